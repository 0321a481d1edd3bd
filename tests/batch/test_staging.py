"""Requests are staged in Vertex's input shape, split at the per-job limit, and read back intact."""

from __future__ import annotations

import orjson
import pytest

from runner.batch import staging
from runner.batch.identity import JobKey
from runner.batch.jobs import BatchJob
from runner.batch.readback import JobFiles
from runner.batch.staging import Layout, ids_uri, input_line, stage
from runner.errors import RemoteError, SpecError
from runner.records import Request


def requests(n: int, prefix: str = "r"):
    for i in range(n):
        yield Request(
            f"{prefix}-{i}",
            {
                "anthropic_version": "vertex-2023-10-16",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": f"hi {i}"}],
            },
        )


def test_an_input_line_is_custom_id_and_request():
    line = orjson.loads(input_line(next(requests(1))))
    assert list(line) == ["custom_id", "request"]
    assert line["request"]["messages"][0]["content"] == "hi 0"


def test_the_layout_keeps_each_revision_and_part_apart():
    layout = Layout("gs://b/staging/", "bq://p.d", "spec-a", "0123abcd")
    key = JobKey(retry=2, part=1, parts=3)
    assert layout.input_uri(key, 3) == "gs://b/staging/spec-a/0123abcd/retry2-part00001/seg-00003.jsonl"
    assert layout.output_uri(key) == "bq://p.d.cj_spec_a_0123abcd_retry2_part00001_out"
    assert ids_uri(layout.input_uri(key)).endswith("retry2-part00001/seg-00000.ids")


def job_reading(uris: tuple[str, ...]) -> BatchJob:
    return BatchJob(
        name="projects/p/locations/l/batchPredictionJobs/1",
        display_name="x",
        model="publishers/anthropic/models/m",
        state="SUCCEEDED",
        input_uris=uris,
    )


def test_gcs_staging_splits_at_the_limit_and_reads_back(local_stack, tmp_path):
    layout = Layout(f"gs://claude-jobs-local/test-staging/{tmp_path.name}", "gs://x", "s", "r1")
    staged = stage(requests(25), local_stack, layout, max_per_job=10)
    assert [p.count for p in staged.parts] == [10, 10, 5]
    assert {p.key.parts for p in staged.parts} == {3}
    files = JobFiles(local_stack)
    second = job_reading(staged.parts[1].input_uris)
    assert list(files.input_ids(second)) == [f"r-{i}".encode() for i in range(10, 20)]
    wanted = {"r-12", "r-19"}
    assert [r.custom_id for r in files.input_requests(second, wanted)] == ["r-12", "r-19"]


def test_bigquery_staging_loads_custom_id_and_request_columns(local_stack, tmp_path):
    layout = Layout(
        "bq://claude-jobs-local.claude_jobs", "bq://x.y", "s", tmp_path.name[-12:].lower().replace("-", "_")
    )
    staged = stage(requests(5), local_stack, layout, max_per_job=100)
    (part,) = staged.parts
    table = local_stack.bigquery().get_table(part.input_uris[0].removeprefix("bq://"))
    assert [f.name for f in table.schema] == ["custom_id", "request"]
    files = JobFiles(local_stack)
    got = list(files.input_requests(job_reading(part.input_uris), {"r-3"}))
    assert got[0].body["messages"][0]["content"] == "hi 3"
    assert sorted(files.input_ids(job_reading(part.input_uris))) == [f"r-{i}".encode() for i in range(5)]


def test_the_request_budget_stops_staging_before_any_job(local_stack, tmp_path):
    layout = Layout(f"gs://claude-jobs-local/test-staging/{tmp_path.name}", "gs://x", "s", "r2")
    with pytest.raises(SpecError, match="budget.max_requests"):
        stage(requests(50), local_stack, layout, max_per_job=100, max_requests=20)


def test_parts_whose_job_exists_are_counted_but_not_written(local_stack, tmp_path):
    layout = Layout(f"gs://claude-jobs-local/test-staging/{tmp_path.name}", "gs://x", "s", "r3")
    staged = stage(requests(20), local_stack, layout, max_per_job=10, parts_needed=lambda part: part == 1)
    assert staged.total == 20
    bucket = local_stack.storage().bucket("claude-jobs-local")
    assert staged.parts[0].input_uris == ()
    names = {b.name for b in bucket.list_blobs(prefix=f"test-staging/{tmp_path.name}/")}
    assert names == {
        f"test-staging/{tmp_path.name}/s/r3/part00001/seg-00000.{ext}" for ext in ("jsonl", "ids")
    }


def test_a_large_part_is_cut_into_segments_that_all_read_back(local_stack, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "SEGMENT_BYTES", 2_000)
    layout = Layout(f"gs://claude-jobs-local/test-staging/{tmp_path.name}", "gs://x", "s", "r4")
    (part,) = stage(requests(60), local_stack, layout, max_per_job=100).parts
    assert len(part.input_uris) > 3
    ids = list(JobFiles(local_stack).input_ids(job_reading(part.input_uris)))
    assert ids == [f"r-{i}".encode() for i in range(60)]


def kept_requests(n: int):
    for request in requests(n):
        yield Request(request.custom_id, request.body, {"product": f"p-{request.custom_id}"})


def test_kept_lines_name_every_row_only_when_every_segment_has_them(local_stack, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "SEGMENT_BYTES", 2_000)
    layout = Layout(f"gs://claude-jobs-local/test-staging/{tmp_path.name}", "gs://x", "s", "r5")
    (part,) = stage(kept_requests(60), local_stack, layout, max_per_job=100).parts
    files = JobFiles(local_stack)
    job = job_reading(part.input_uris)
    assert len(part.input_uris) > 3
    assert files.kept_names_every_id(job)
    lines = b"".join(files.kept(job)).splitlines()
    assert [orjson.loads(line)["custom_id"].encode() for line in lines] == list(files.input_ids(job))
    bucket = local_stack.storage().bucket("claude-jobs-local")
    bucket.blob(
        part.input_uris[2].removeprefix("gs://claude-jobs-local/").replace(".jsonl", ".kept")
    ).delete()
    assert not files.kept_names_every_id(job)
    (plain,) = stage(
        requests(5), local_stack, Layout(layout.input, "gs://x", "s", "r6"), max_per_job=100
    ).parts
    assert not files.kept_names_every_id(job_reading(plain.input_uris))


def test_a_table_input_names_every_row_by_its_kept_columns(local_stack, tmp_path):
    layout = Layout(
        "bq://claude-jobs-local.claude_jobs", "bq://x.y", "s", tmp_path.name[-12:].lower().replace("-", "_")
    )
    files = JobFiles(local_stack)
    (kept,) = stage(
        kept_requests(5), local_stack, layout, max_per_job=100, kept_types={"product": "STRING"}
    ).parts
    assert files.kept_names_every_id(job_reading(kept.input_uris))
    plain_layout = Layout(layout.input, "bq://x.y", "s", layout.rev + "p")
    (plain,) = stage(requests(5), local_stack, plain_layout, max_per_job=100).parts
    assert not files.kept_names_every_id(job_reading(plain.input_uris))


def test_staging_into_a_missing_bucket_is_a_remote_error_naming_the_fix(local_stack, tmp_path):
    layout = Layout(f"gs://no-such-bucket-{tmp_path.name[-8:].lower()}/staging", "gs://x", "s", "r7")
    with pytest.raises(RemoteError) as err:
        stage(requests(5), local_stack, layout, max_per_job=100)
    assert err.value.exit_code == 4 and err.value.status == 404
    assert err.value.message.startswith(
        "uploading the batch input failed: Google Cloud refused the request: 404"
    )
    assert err.value.hint == "the staging bucket (batch.input) must exist and be writable"


def test_staging_into_a_missing_dataset_is_a_remote_error_naming_the_table(local_stack, tmp_path):
    layout = Layout(f"bq://{local_stack.project}.no_such_dataset", "bq://x.y", "s", "r8")
    with pytest.raises(RemoteError) as err:
        stage(requests(5), local_stack, layout, max_per_job=100)
    assert err.value.exit_code == 4
    assert err.value.message.startswith(
        f"loading the batch input table bq://{local_stack.project}.no_such_dataset."
    )
    assert "failed: Google Cloud refused the request: " in err.value.message
    assert err.value.hint == "the dataset must exist and be writable"
