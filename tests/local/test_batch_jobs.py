"""batchPredictionJobs on the local Vertex server, driven by aiplatform_v1 (REST) and google-genai.

A dedicated server process (fast simulated time) shares the session stack's
emulators, so these tests can restart it and change its batch knobs freely.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid

import pytest

from runner.local.server import start_server_process

MODEL = "publishers/anthropic/models/claude-sonnet-4-5@20250929"
PARENT = "projects/claude-jobs-local/locations/us-east5"
BUCKET = "claude-jobs-local"
TERMINAL = {
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
}
OUTPUT_DIR = re.compile(
    r"^gs://claude-jobs-local/out/[0-9a-f]+/prediction-model-"
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
)


def _config(endpoints, **batch) -> dict:
    return {
        "batch": {
            "speed": 50.0,
            "storage_url": endpoints.storage,
            "bigquery_url": endpoints.bigquery,
            **batch,
        }
    }


@pytest.fixture(scope="module")
def batch_state(tmp_path_factory):
    return tmp_path_factory.mktemp("vertex-batch")


@pytest.fixture(scope="module")
def server(local_stack_endpoints, batch_state):
    with start_server_process(_config(local_stack_endpoints), batch_state) as process:
        yield process


@pytest.fixture(scope="module")
def jobs(server):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": server.url}
    )


@pytest.fixture(scope="module")
def genai_client(server):
    import google.oauth2.credentials
    from google import genai
    from google.genai.types import HttpOptions

    return genai.Client(
        vertexai=True,
        project="claude-jobs-local",
        location="us-east5",
        credentials=google.oauth2.credentials.Credentials(token="x"),
        http_options=HttpOptions(base_url=server.url, api_version="v1"),
    )


def _request(i: int, **extra) -> dict:
    return {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": f"Summarise ticket {i}"}],
        **extra,
    }


@pytest.fixture
def gcs_input(local_stack):
    """A fresh input file of 6 rows; returns (uri, run id)."""
    run = uuid.uuid4().hex[:12]
    lines = [json.dumps({"custom_id": f"row-{i}", "request": _request(i)}) for i in range(6)]
    local_stack.storage().bucket(BUCKET).blob(f"in/{run}.jsonl").upload_from_string("\n".join(lines) + "\n")
    return f"gs://{BUCKET}/in/{run}.jsonl", run


def _create(jobs, uri: str, run: str, labels: dict | None = None, name: str = "t", model: str = MODEL):
    return jobs.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job={
            "display_name": name,
            "model": model,
            "labels": labels or {},
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://{BUCKET}/out/{run}"},
            },
        },
    )


def _raw(server, name: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/{name}?%24alt=json%3Benum-encoding%3Dint") as r:
        return json.load(r)


def _wait(server, name: str, states=TERMINAL, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = _raw(server, name)
        if not seen or seen[-1] != job["state"]:
            seen.append(job["state"])
        if job["state"] in states:
            job["_seen"] = seen
            return job
        time.sleep(0.02)
    raise AssertionError(f"{name} still {seen[-1]} after {timeout} s")


def _predictions(local_stack, job: dict) -> list[dict]:
    directory = job["outputInfo"]["gcsOutputDirectory"]
    prefix = directory[len(f"gs://{BUCKET}/") :] + "/"
    blobs = [b for b in local_stack.storage().list_blobs(BUCKET, prefix=prefix) if b.name.endswith(".jsonl")]
    return [json.loads(line) for b in blobs for line in b.download_as_text().splitlines()]


# -- the happy paths ------------------------------------------------------------------------


def test_gcs_job_from_aiplatform_reaches_succeeded_through_every_state(jobs, server, gcs_input):
    uri, run = gcs_input
    created = _create_in(jobs, _unique_parent(), uri, run)
    assert created.state.name == "JOB_STATE_PENDING"  # a free slot: PENDING at once, as the page shows
    assert created.model_version_id == "1"
    assert re.fullmatch(r"projects/q-[0-9a-f]+/locations/us-east5/batchPredictionJobs/\d+", created.name)
    job = _wait(server, created.name)
    assert job["_seen"][-1] == "JOB_STATE_SUCCEEDED"
    assert job["_seen"] == [
        s for s in ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"] if s in job["_seen"]
    ]
    assert job["modelVersionId"] == "1"
    assert jobs.get_batch_prediction_job(name=created.name).state.name == "JOB_STATE_SUCCEEDED"


def test_a_bare_model_name_runs_the_newest_catalogued_version(jobs, server, gcs_input, local_stack):
    uri, run = gcs_input
    created = _create(jobs, uri, run, model="publishers/anthropic/models/claude-sonnet-4-5")
    job = _wait(server, created.name)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["model"] == "publishers/anthropic/models/claude-sonnet-4-5"  # echoed as sent
    lines = _predictions(local_stack, job)
    assert {line["response"]["model"] for line in lines} == {"claude-sonnet-4-5@20250929"}


def test_an_unknown_bare_model_name_is_not_found_under_its_own_name(jobs, gcs_input):
    from google.api_core.exceptions import NotFound

    uri, run = gcs_input
    with pytest.raises(NotFound) as caught:
        _create(jobs, uri, run, model="publishers/anthropic/models/claude-nonexistent-9")
    assert "publishers/anthropic/models/claude-nonexistent-9`" in caught.value.message


def test_job_json_is_camelcase_with_string_enums_int64_strings_and_rfc3339(server, jobs, gcs_input):
    uri, run = gcs_input
    job = _wait(server, _create(jobs, uri, run).name)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "6", "failedCount": "0", "incompleteCount": "0"}
    for key in ("createTime", "startTime", "endTime", "updateTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", job[key]), key
    assert OUTPUT_DIR.match(job["outputInfo"]["gcsOutputDirectory"])
    assert "error" not in job


def test_gcs_output_lines_have_vertex_shape_for_every_custom_id(server, jobs, gcs_input, local_stack):
    uri, run = gcs_input
    job = _wait(server, _create(jobs, uri, run).name)
    lines = _predictions(local_stack, job)
    assert sorted(line["custom_id"] for line in lines) == [f"row-{i}" for i in range(6)]
    for line in lines:
        assert list(line) == ["custom_id", "request", "response", "status", "processed_time"]
        assert line["status"] == ""
        assert line["request"] == _request(int(line["custom_id"][4:]))
        assert line["response"]["type"] == "message"
        assert line["response"]["usage"]["output_tokens"] <= 16
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["processed_time"])


def test_genai_batch_over_gcs_reaches_succeeded(genai_client, gcs_input):
    from google.genai.types import CreateBatchJobConfig

    uri, run = gcs_input
    job = genai_client.batches.create(
        model=MODEL, src=uri, config=CreateBatchJobConfig(dest=f"gs://{BUCKET}/out/{run}")
    )
    for _ in range(3000):
        job = genai_client.batches.get(name=job.name)
        if job.done:
            break
        time.sleep(0.02)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert job.completion_stats.successful_count == 6
    assert OUTPUT_DIR.match(job.output_info.gcs_output_directory)


@pytest.fixture
def bq_input(local_stack):
    """A BigQuery input table with custom_id, request (JSON) and an extra `ticket` column."""
    from google.cloud import bigquery

    table = f"claude-jobs-local.claude_jobs.in_{uuid.uuid4().hex[:10]}"
    client = local_stack.bigquery()
    client.create_table(
        bigquery.Table(
            table,
            schema=[
                bigquery.SchemaField("custom_id", "STRING"),
                bigquery.SchemaField("request", "JSON"),
                bigquery.SchemaField("ticket", "STRING"),
            ],
        )
    )
    assert (
        client.insert_rows_json(
            table,
            [
                {"custom_id": f"row-{i}", "request": json.dumps(_request(i)), "ticket": f"T-{i}"}
                for i in range(4)
            ],
        )
        == []
    )
    return table


def test_genai_batch_over_bigquery_writes_input_columns_plus_response_status_time(
    genai_client, server, bq_input, local_stack
):
    from google.genai.types import CreateBatchJobConfig

    job = genai_client.batches.create(
        model=MODEL,
        src=f"bq://{bq_input}",
        config=CreateBatchJobConfig(dest="bq://claude-jobs-local.claude_jobs"),
    )
    for _ in range(3000):
        job = genai_client.batches.get(name=job.name)
        if job.done:
            break
        time.sleep(0.02)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    # google-genai drops outputInfo.bigqueryOutputDataset: read it from the wire.
    info = _raw(server, job.name)["outputInfo"]
    assert info["bigqueryOutputDataset"] == "bq://claude-jobs-local.claude_jobs"
    table = job.output_info.bigquery_output_table
    assert table == info["bigqueryOutputTable"]
    assert re.fullmatch(r"predictions_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d_\d{3}Z", table)
    client = local_stack.bigquery()
    ref = f"claude-jobs-local.claude_jobs.{table}"
    assert [(f.name, f.field_type) for f in client.get_table(ref).schema] == [
        ("custom_id", "STRING"),
        ("request", "JSON"),
        ("ticket", "STRING"),
        ("response", "JSON"),
        ("status", "STRING"),
        ("processed_time", "TIMESTAMP"),
    ]
    rows = {row["custom_id"]: row for row in client.list_rows(ref)}
    assert sorted(rows) == [f"row-{i}" for i in range(4)]
    assert rows["row-2"]["ticket"] == "T-2"
    assert rows["row-2"]["status"] == ""
    assert rows["row-2"]["response"]["role"] == "assistant"


def test_bigquery_output_to_a_named_table_lands_in_that_table(jobs, server, bq_input, local_stack):
    out = f"out_{uuid.uuid4().hex[:10]}"
    created = jobs.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job={
            "display_name": "bq",
            "model": MODEL,
            "input_config": {
                "instances_format": "bigquery",
                "bigquery_source": {"input_uri": f"bq://{bq_input}"},
            },
            "output_config": {
                "predictions_format": "bigquery",
                "bigquery_destination": {"output_uri": f"bq://claude-jobs-local.claude_jobs.{out}"},
            },
        },
    )
    job = _wait(server, created.name)
    assert job["outputInfo"] == {
        "bigqueryOutputDataset": "bq://claude-jobs-local.claude_jobs",
        "bigqueryOutputTable": out,
    }
    rows = list(local_stack.bigquery().list_rows(f"claude-jobs-local.claude_jobs.{out}"))
    assert len(rows) == 4


# -- list, cancel, quota ------------------------------------------------------------------------


def _unique_parent() -> str:
    """A project of its own, so jobs a test leaves active never take another test's quota."""
    return f"projects/q-{uuid.uuid4().hex[:10]}/locations/us-east5"


def _create_in(jobs, parent: str, uri: str, run: str, labels=None, name="t"):
    return jobs.create_batch_prediction_job(
        parent=parent,
        batch_prediction_job={
            "display_name": name,
            "model": MODEL,
            "labels": labels or {},
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://{BUCKET}/out/{run}"},
            },
        },
    )


def test_list_filters_on_labels_display_name_and_state_combined_with_and(jobs, server, gcs_input):
    uri, run = gcs_input
    a = _create(jobs, uri, run, {"run": run, "kind": "a"}, name=f"{run}-a")
    b = _create(jobs, uri, run, {"run": run, "kind": "b"}, name=f"{run}-b")
    _wait(server, a.name)
    _wait(server, b.name)

    def names(text):
        request = {"parent": PARENT, "filter": text}
        return sorted(job.name for job in jobs.list_batch_prediction_jobs(request=request))

    assert names(f'labels.run="{run}"') == sorted([a.name, b.name])
    assert names(f'labels.run="{run}" AND labels.kind="a"') == [a.name]
    assert names(f'display_name="{run}-b"') == [b.name]
    assert names(f'labels.run="{run}" AND state=JOB_STATE_SUCCEEDED') == sorted([a.name, b.name])
    assert names(f'labels.run="{run}" AND state=JOB_STATE_FAILED') == []


def test_list_paginates_with_page_size_and_next_page_token(jobs, server, gcs_input):
    uri, run = gcs_input
    parent = _unique_parent()
    created = {_create_in(jobs, parent, uri, run).name for _ in range(3)}
    url = f"{server.url}/v1/{parent}/batchPredictionJobs?pageSize=2"
    with urllib.request.urlopen(url) as r:
        first = json.load(r)
    assert len(first["batchPredictionJobs"]) == 2
    with urllib.request.urlopen(f"{url}&pageToken={first['nextPageToken']}") as r:
        second = json.load(r)
    assert len(second["batchPredictionJobs"]) == 1 and "nextPageToken" not in second
    pager = jobs.list_batch_prediction_jobs(request={"parent": parent, "page_size": 1})
    assert {job.name for job in pager} == created


def test_an_unsupported_filter_is_refused_with_invalid_argument(jobs):
    from google.api_core.exceptions import BadRequest

    with pytest.raises(BadRequest) as caught:
        list(jobs.list_batch_prediction_jobs(request={"parent": PARENT, "filter": "owner=me"}))
    assert caught.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_cancel_of_a_pending_job_ends_cancelled(jobs, server, gcs_input):
    uri, run = gcs_input
    created = _create_in(jobs, _unique_parent(), uri, run, {"local-fault": "stuck-pending"})
    _wait(server, created.name, states={"JOB_STATE_PENDING"})
    jobs.cancel_batch_prediction_job(name=created.name)
    job = _wait(server, created.name)
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert "endTime" in job


def test_cancel_of_a_running_job_keeps_the_rows_already_answered(jobs, server, gcs_input, local_stack):
    uri, run = gcs_input
    with _batch_knobs(server, running_seconds=3000.0):
        created = _create(jobs, uri, run)
        _wait(server, created.name, states={"JOB_STATE_RUNNING"})
    for _ in range(500):  # the first row is answered at 1/6 of the (long) running time
        if _raw(server, created.name).get("completionStats", {}).get("successfulCount", "0") != "0":
            break
        time.sleep(0.02)
    jobs.cancel_batch_prediction_job(name=created.name)
    job = _wait(server, created.name)
    assert job["state"] == "JOB_STATE_CANCELLED"
    lines = _predictions(local_stack, job)
    assert 0 < len(lines) < 6
    assert int(job["completionStats"]["incompleteCount"]) == 6 - len(lines)


def test_cancel_of_a_finished_job_is_refused_with_failed_precondition(jobs, server, gcs_input):
    from google.api_core.exceptions import BadRequest

    uri, run = gcs_input
    created = _create(jobs, uri, run)
    _wait(server, created.name)
    with pytest.raises(BadRequest) as caught:
        jobs.cancel_batch_prediction_job(name=created.name)
    assert caught.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_a_fifth_concurrent_job_waits_queued_until_a_slot_frees(jobs, server, gcs_input):
    uri, run = gcs_input
    parent = _unique_parent()
    stuck = [_create_in(jobs, parent, uri, run, {"local-fault": "stuck-pending"}) for _ in range(4)]
    for job in stuck:
        _wait(server, job.name, states={"JOB_STATE_PENDING"})
    fifth = _create_in(jobs, parent, uri, run)
    other_project = _create(jobs, uri, run)
    _wait(server, other_project.name)  # other projects keep their own quota
    assert _raw(server, fifth.name)["state"] == "JOB_STATE_QUEUED"
    jobs.cancel_batch_prediction_job(name=stuck[0].name)
    assert _wait(server, fifth.name)["state"] == "JOB_STATE_SUCCEEDED"
    for job in stuck[1:]:
        jobs.cancel_batch_prediction_job(name=job.name)


def test_quota_reject_mode_answers_429_resource_exhausted(jobs, server, gcs_input):
    from google.api_core.exceptions import TooManyRequests

    uri, run = gcs_input
    parent = _unique_parent()
    with _batch_knobs(server, quota_mode="reject", max_concurrent_jobs=1):
        stuck = _create_in(jobs, parent, uri, run, {"local-fault": "stuck-pending"})
        with pytest.raises(TooManyRequests) as caught:  # even while the first is still PENDING
            _create_in(jobs, parent, uri, run)
    assert "quotas are exceeded" in caught.value.message
    jobs.cancel_batch_prediction_job(name=stuck.name)


# -- faults ---------------------------------------------------------------------------------------


def _batch_knobs(server, **changes):
    from contextlib import contextmanager

    @contextmanager
    def applied():
        with urllib.request.urlopen(f"{server.url}/_local/config") as r:
            saved = json.load(r)["batch"]
        _post_config(server, {"batch": {**saved, **changes}})
        try:
            yield
        finally:
            _post_config(server, {"batch": saved})

    return applied()


def _post_config(server, body: dict) -> None:
    request = urllib.request.Request(
        f"{server.url}/_local/config",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as r:
        assert r.status == 200


def _failed_status(line: dict) -> dict:
    reason, _, body = line["status"].partition(": ")
    assert reason == "Bad Request"
    return json.loads(body)["error"]


def test_row_failures_label_fails_that_share_of_rows_with_bad_request_status(
    jobs, server, gcs_input, local_stack
):
    uri, run = gcs_input
    job = _wait(server, _create(jobs, uri, run, {"local-fault": "row-failures-50"}).name)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    lines = _predictions(local_stack, job)
    failed = [line for line in lines if line["status"]]
    assert len(failed) == 3  # exactly half, evenly spread
    assert job["completionStats"]["failedCount"] == str(len(failed))
    for line in failed:
        assert "response" not in line
        assert _failed_status(line)["status"] == "FAILED_PRECONDITION"


def test_output_files_knob_spreads_the_lines_over_several_jsonl_files(jobs, server, gcs_input, local_stack):
    uri, run = gcs_input
    with _batch_knobs(server, output_files=3):
        job = _wait(server, _create(jobs, uri, run).name)
    prefix = job["outputInfo"]["gcsOutputDirectory"][len(f"gs://{BUCKET}/") :] + "/"
    names = sorted(b.name.rsplit("/", 1)[1] for b in local_stack.storage().list_blobs(BUCKET, prefix=prefix))
    assert len(names) == 3 and all(name.endswith(".jsonl") for name in names)
    assert "predictions.jsonl" in names
    assert sorted(line["custom_id"] for line in _predictions(local_stack, job)) == [
        f"row-{i}" for i in range(6)
    ]


def test_row_failure_rate_from_config_fails_every_row(jobs, server, gcs_input):
    uri, run = gcs_input
    with _batch_knobs(server, row_failure_rate=1.0):
        created = _create(jobs, uri, run)
        _wait(server, created.name, states={"JOB_STATE_RUNNING"} | TERMINAL)
    job = _wait(server, created.name)
    assert job["completionStats"] == {"successfulCount": "0", "failedCount": "6", "incompleteCount": "0"}


@pytest.mark.parametrize(
    "fault, state, counts",
    [
        ("failed", "JOB_STATE_FAILED", None),
        ("partially-succeeded", "JOB_STATE_PARTIALLY_SUCCEEDED", "some failed"),
        (
            "expired",
            "JOB_STATE_EXPIRED",
            {"successfulCount": "3", "failedCount": "0", "incompleteCount": "3"},
        ),
    ],
)
def test_job_fault_label_ends_the_job_in_that_state(jobs, server, gcs_input, fault, state, counts):
    uri, run = gcs_input
    job = _wait(server, _create(jobs, uri, run, {"local-fault": fault}).name)
    assert job["state"] == state
    if fault in ("failed", "expired"):
        assert job["error"]["code"] in (13, 4) and job["error"]["message"]
    if counts == "some failed":
        assert 0 < int(job["completionStats"]["failedCount"]) < 6
    elif counts:
        assert job["completionStats"] == counts


def test_stuck_pending_label_keeps_a_job_pending_while_others_finish(jobs, server, gcs_input):
    uri, run = gcs_input
    parent = _unique_parent()
    stuck = _create_in(jobs, parent, uri, run, {"local-fault": "stuck-pending"})
    later = _create_in(jobs, parent, uri, run)
    _wait(server, later.name)
    assert _raw(server, stuck.name)["state"] == "JOB_STATE_PENDING"
    jobs.cancel_batch_prediction_job(name=stuck.name)


def test_an_invalid_request_row_gets_a_bad_request_status(jobs, server, local_stack):
    run = uuid.uuid4().hex[:12]
    lines = [
        {"custom_id": "ok", "request": _request(1)},
        {
            "custom_id": "no-max-tokens",
            "request": {
                "anthropic_version": "vertex-2023-10-16",
                "messages": [{"role": "user", "content": "x"}],
            },
        },
    ]
    local_stack.storage().bucket(BUCKET).blob(f"in/{run}.jsonl").upload_from_string(
        "\n".join(json.dumps(line) for line in lines)
    )
    job = _wait(server, _create(jobs, f"gs://{BUCKET}/in/{run}.jsonl", run).name)
    by_id = {line["custom_id"]: line for line in _predictions(local_stack, job)}
    assert by_id["ok"]["status"] == ""
    assert by_id["no-max-tokens"]["status"].startswith("Bad Request: {")
    assert "max_tokens" in by_id["no-max-tokens"]["status"]


def test_a_missing_input_file_fails_the_job_with_an_error(jobs, server):
    run = uuid.uuid4().hex[:12]
    job = _wait(server, _create(jobs, f"gs://{BUCKET}/in/{run}-missing.jsonl", run).name)
    assert job["state"] == "JOB_STATE_FAILED"
    assert "does not exist" in job["error"]["message"]


def test_a_missing_output_bucket_fails_the_job_with_an_error(jobs, server, gcs_input):
    uri, run = gcs_input
    created = jobs.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job={
            "display_name": "t",
            "model": MODEL,
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://no-such-bucket-{run}/out"},
            },
        },
    )
    job = _wait(server, created.name)
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 5 and f"no-such-bucket-{run}" in job["error"]["message"]


# -- requests Vertex refuses ----------------------------------------------------------------------


def test_global_location_is_rejected(jobs, gcs_input):
    from google.api_core.exceptions import BadRequest

    uri, run = gcs_input
    with pytest.raises(BadRequest):
        _create_in(jobs, "projects/claude-jobs-local/locations/global", uri, run)


def test_a_model_outside_publishers_anthropic_is_rejected(jobs, gcs_input):
    from google.api_core.exceptions import BadRequest

    uri, run = gcs_input
    with pytest.raises(BadRequest):
        jobs.create_batch_prediction_job(
            parent=PARENT,
            batch_prediction_job={
                "display_name": "x",
                "model": "claude-sonnet-4-5@20250929",
                "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
                "output_config": {
                    "predictions_format": "jsonl",
                    "gcs_destination": {"output_uri_prefix": f"gs://{BUCKET}/out/{run}"},
                },
            },
        )


def test_an_unknown_model_is_not_found(jobs, gcs_input):
    from google.api_core.exceptions import NotFound

    uri, run = gcs_input
    with pytest.raises(NotFound):
        jobs.create_batch_prediction_job(
            parent=PARENT,
            batch_prediction_job={
                "display_name": "x",
                "model": "publishers/anthropic/models/claude-nonexistent-9",
                "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
                "output_config": {
                    "predictions_format": "jsonl",
                    "gcs_destination": {"output_uri_prefix": f"gs://{BUCKET}/out/{run}"},
                },
            },
        )


def test_an_unknown_job_is_not_found(jobs):
    from google.api_core.exceptions import NotFound

    with pytest.raises(NotFound):
        jobs.get_batch_prediction_job(name=f"{PARENT}/batchPredictionJobs/123")


def test_percent_encoded_cancel_path_is_decoded(jobs, server, gcs_input):
    uri, run = gcs_input
    created = _create_in(jobs, _unique_parent(), uri, run, {"local-fault": "stuck-pending"})
    request = urllib.request.Request(
        f"{server.url}/v1/{created.name}%3Acancel?%24alt=json", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request) as r:
        assert json.load(r) == {}
    assert _wait(server, created.name)["state"] == "JOB_STATE_CANCELLED"


# -- persistence --------------------------------------------------------------------------------


def test_jobs_survive_a_server_restart_and_resume(local_stack_endpoints, tmp_path, gcs_input):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    uri, run = gcs_input
    frozen = _config(local_stack_endpoints, speed=0.0001)  # nothing leaves PENDING
    with start_server_process(frozen, tmp_path) as first:
        client = aiplatform_v1.JobServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": first.url}
        )
        created = _create(client, uri, run)
    with start_server_process(_config(local_stack_endpoints), tmp_path) as second:
        job = _wait(second, created.name)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["createTime"] == _rfc3339(created.create_time)


def _rfc3339(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_job_running_when_the_server_stops_runs_again_after_restart(
    local_stack_endpoints, tmp_path, gcs_input
):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    uri, run = gcs_input
    slow = _config(local_stack_endpoints, running_seconds=3000.0)
    with start_server_process(slow, tmp_path) as first:
        client = aiplatform_v1.JobServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": first.url}
        )
        created = _create(client, uri, run)
        _wait(first, created.name, states={"JOB_STATE_RUNNING"})
    with start_server_process(_config(local_stack_endpoints), tmp_path) as second:
        job = _wait(second, created.name)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"]["successfulCount"] == "6"


def test_gcs_input_with_bigquery_output_gets_custom_id_request_and_the_output_columns(
    jobs, server, gcs_input, local_stack
):
    uri, run = gcs_input
    out = f"out_{run}"
    created = jobs.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job={
            "display_name": "gcs-to-bq",
            "model": MODEL,
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": [uri]}},
            "output_config": {
                "predictions_format": "bigquery",
                "bigquery_destination": {"output_uri": f"bq://claude-jobs-local.claude_jobs.{out}"},
            },
        },
    )
    assert _wait(server, created.name)["state"] == "JOB_STATE_SUCCEEDED"
    client = local_stack.bigquery()
    ref = f"claude-jobs-local.claude_jobs.{out}"
    assert [(f.name, f.field_type) for f in client.get_table(ref).schema] == [
        ("custom_id", "STRING"),
        ("request", "JSON"),
        ("response", "JSON"),
        ("status", "STRING"),
        ("processed_time", "TIMESTAMP"),
    ]
    rows = {row["custom_id"]: row for row in client.list_rows(ref)}
    assert rows["row-3"]["request"] == _request(3)
    assert rows["row-3"]["response"]["type"] == "message"
