"""The samples of Google's "Batch predictions with Anthropic Claude models" page, run as written.

Changes to each sample, and only these (see conftest.py): the endpoint, credentials (a token
for google-genai instead of Application Default Credentials; a local `gcloud` for curl), the
project (`python-docs-samples-tests` becomes the local stack's), the page's placeholders
(PROJECT_ID, LOCATION, JOB_NAME, MODEL, INPUT_URI(S), OUTPUT_*, DESTINATION, JOB_ID), the
retired model `claude-3-5-haiku` (its successor `claude-haiku-4-5` is used, as a bare name
like the page's), and two things the page leaves to the reader or that cannot run as
printed:
- the Python samples' `time.sleep(30)` between polls is 0.2 s (the local jobs are sped up);
- the curl commands on the page have a space after each line-ending `\\`, which ends the
  command in any POSIX shell; the space is dropped. The REST bodies are printed inside the
  shell's single quotes ('{...}'); request.json holds what is between them.
google-genai is configured with the environment variables Google documents for Vertex AI
(GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_LOCATION); with the local
endpoint as `base_url` it also needs the project and location as arguments. The PowerShell
variants are not run: PowerShell is not available on this platform's package sources.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from seeds_helpers import LOCATION, TOKEN, adapt

SUCCESSOR = "claude-haiku-4-5"
VERSIONED = "claude-haiku-4-5@20251001"
DATASET = "anthropic_bq_sample"

# -- the page's samples, as on the page ---------------------------------------------------

INPUT_EXAMPLE = """
{
 "custom_id": "request-1",
 "request": {
 "messages": [{"role": "user", "content": "Hello!"}],
 "anthropic_version": "vertex-2023-10-16",
 "max_tokens": 50
 }
}
"""

GENAI_BIGQUERY = """
import time

from google import genai
from google.genai.types import CreateBatchJobConfig, JobState, HttpOptions

client = genai.Client(http_options=HttpOptions(api_version="v1"))

# TODO(developer): Update and un-comment below line
# output_uri = f"bq://your-project.your_dataset.your_table"

job = client.batches.create(
 # Check Anthropic Claude region availability in https://cloud.devsite.corp.google.com/vertex-ai/generative-ai/docs/partner-models/use-claude#regions
 # More about Anthropic model: https://console.cloud.google.com/vertex-ai/publishers/anthropic/model-garden/claude-3-5-haiku
 model="publishers/anthropic/models/claude-3-5-haiku",
 # The source dataset needs to be created specifically in us-east5
 src="bq://python-docs-samples-tests.anthropic_bq_sample.test_data",
 config=CreateBatchJobConfig(dest=output_uri),
)
print(f"Job name: {job.name}")
print(f"Job state: {job.state}")
# Example response:
# Job name: projects/%PROJECT_ID%/locations/us-central1/batchPredictionJobs/9876453210000000000
# Job state: JOB_STATE_PENDING

# See the documentation: https://googleapis.github.io/python-genai/genai.html#genai.types.BatchJob
completed_states = {
 JobState.JOB_STATE_SUCCEEDED,
 JobState.JOB_STATE_FAILED,
 JobState.JOB_STATE_CANCELLED,
 JobState.JOB_STATE_PAUSED,
}

while job.state not in completed_states:
 time.sleep(30)
 job = client.batches.get(name=job.name)
 print(f"Job state: {job.state}")
# Example response:
# Job state: JOB_STATE_PENDING
# Job state: JOB_STATE_RUNNING
# Job state: JOB_STATE_RUNNING
# ...
# Job state: JOB_STATE_SUCCEEDED
"""

GENAI_GCS = """
import time

from google import genai
from google.genai.types import CreateBatchJobConfig, JobState, HttpOptions

client = genai.Client(http_options=HttpOptions(api_version="v1"))
# TODO(developer): Update and un-comment below line
# output_uri = "gs://your-bucket/your-prefix"

# See the documentation: https://googleapis.github.io/python-genai/genai.html#genai.batches.Batches.create
job = client.batches.create(
 # More about Anthropic model: https://console.cloud.google.com/vertex-ai/publishers/anthropic/model-garden/claude-3-5-haiku
 model="publishers/anthropic/models/claude-3-5-haiku",
 # Source link: https://storage.cloud.google.com/cloud-samples-data/batch/anthropic-test-data-gcs.jsonl
 src="gs://cloud-samples-data/anthropic-test-data-gcs.jsonl",
 config=CreateBatchJobConfig(dest=output_uri),
)
print(f"Job name: {job.name}")
print(f"Job state: {job.state}")
# Example response:
# Job name: projects/%PROJECT_ID%/locations/us-central1/batchPredictionJobs/9876453210000000000
# Job state: JOB_STATE_PENDING

# See the documentation: https://googleapis.github.io/python-genai/genai.html#genai.types.BatchJob
completed_states = {
 JobState.JOB_STATE_SUCCEEDED,
 JobState.JOB_STATE_FAILED,
 JobState.JOB_STATE_CANCELLED,
 JobState.JOB_STATE_PAUSED,
}

while job.state not in completed_states:
 time.sleep(30)
 job = client.batches.get(name=job.name)
 print(f"Job state: {job.state}")
# Example response:
# Job state: JOB_STATE_PENDING
# Job state: JOB_STATE_RUNNING
# Job state: JOB_STATE_RUNNING
# ...
# Job state: JOB_STATE_SUCCEEDED
"""

REST_BODY_BIGQUERY = """
'{
 "displayName": "JOB_NAME",
 "model": "publishers/anthropic/models/MODEL",
 "inputConfig": {
 "instancesFormat":"bigquery",
 "bigquerySource":{
 "inputUri" : "INPUT_URI"
 }
 },
 "outputConfig": {
 "predictionsFormat":"OUTPUT_FORMAT",
 "DESTINATION":{
 "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
 }
 }
}'
"""

REST_RESPONSE_BIGQUERY = """
{
"name":
 "projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs/BATCH_JOB_ID",
 "displayName": "JOB_NAME",
 "model": "publishers/anthropic/models/MODEL",
 "inputConfig": {
 "instancesFormat":"bigquery",
 "bigquerySource":{
 "inputUri" : "INPUT_URI"
 }
 },
 "outputConfig": {
 "predictionsFormat":"OUTPUT_FORMAT",
 "DESTINATION":{
 "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
 }
 },
 "state": "JOB_STATE_PENDING",
 "createTime": "2024-10-16T19:33:59.153782Z",
 "updateTime": "2024-10-16T19:33:59.153782Z",
 "modelVersionId": "1"
}
"""

REST_BODY_GCS = """
'{
 "displayName": "JOB_NAME",
 "model": "publishers/anthropic/models/MODEL",
 "inputConfig": {
 "instancesFormat":"jsonl",
 "gcsSource":{
 "uris" : "INPUT_URIS"
 }
 },
 "outputConfig": {
 "predictionsFormat":"OUTPUT_FORMAT",
 "DESTINATION":{
 "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
 }
 }
}'
"""

REST_RESPONSE_GCS = """
{
"name":
 "projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs/BATCH_JOB_ID",
 "displayName": "JOB_NAME",
 "model": "publishers/anthropic/models/MODEL",
 "inputConfig": {
 "instancesFormat": "jsonl",
 "gcsSource": {
 "uris": [
 "INPUT_URIS"
 ]
 }
 },
 "outputConfig": {
 "predictionsFormat":"OUTPUT_FORMAT",
 "DESTINATION":{
 "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
 }
 },
 "state": "JOB_STATE_PENDING",
 "createTime": "2024-10-16T19:33:59.153782Z",
 "updateTime": "2024-10-16T19:33:59.153782Z",
 "modelVersionId": "1"
}
"""

CURL_CREATE = """
curl -X POST \\
 -H "Authorization: Bearer $(gcloud auth print-access-token)" \\
 -H "Content-Type: application/json; charset=utf-8" \\
 -d @request.json \\
 "https://LOCATION-aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs"
"""

CURL_GET = """
curl -X GET \\
 -H "Authorization: Bearer $(gcloud auth print-access-token)" \\
 "https://LOCATION-aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs/JOB_ID"
"""

GET_RESPONSE = """
{
"name":
 "projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs/BATCH_JOB_ID",
 "displayName": "JOB_NAME",
 "model": "publishers/anthropic/models/MODEL",
 "inputConfig": {
 "instancesFormat":"bigquery",
 "bigquerySource":{
 "inputUri" : "INPUT_URI"
 }
 },
 "outputConfig": {
 "predictionsFormat":"OUTPUT_FORMAT",
 "DESTINATION":{
 "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
 }
 },
 "state": "JOB_STATE_SUCCEEDED",
 "createTime": "2024-10-16T19:33:59.153782Z",
 "updateTime": "2024-10-16T19:33:59.153782Z",
 "modelVersionId": "1"
}
"""

# -- inputs the samples read ----------------------------------------------------------------


def _input_rows() -> list[dict]:
    """The page's example line, plus two more like it."""
    first = json.loads(adapt(INPUT_EXAMPLE))
    others = [
        {
            "custom_id": f"request-{i}",
            "request": {**first["request"], "messages": [{"role": "user", "content": f"Hello {i}!"}]},
        }
        for i in (2, 3)
    ]
    return [first, *others]


@pytest.fixture(scope="module")
def dataset(local_stack) -> str:
    """The dataset of the BigQuery input and outputs, in us-east5 (the job's location)."""
    from google.cloud import bigquery

    dataset = bigquery.Dataset(f"{local_stack.project}.{DATASET}")
    dataset.location = LOCATION
    local_stack.bigquery().create_dataset(dataset, exists_ok=True)
    return DATASET


@pytest.fixture(scope="module")
def bigquery_input(local_stack, dataset) -> str:
    """`bq://PROJECT.anthropic_bq_sample.test_data` in us-east5, as the BigQuery sample's comment asks."""
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    client = local_stack.bigquery()
    ref = f"{local_stack.project}.{DATASET}.test_data"
    schema = [bigquery.SchemaField("custom_id", "STRING"), bigquery.SchemaField("request", "JSON")]
    try:
        client.create_table(bigquery.Table(ref, schema=schema))
    except Conflict:
        pass
    else:  # the emulator takes JSON values as strings
        rows = [{"custom_id": r["custom_id"], "request": json.dumps(r["request"])} for r in _input_rows()]
        assert client.insert_rows_json(ref, rows) == []
    return f"bq://{ref}"


@pytest.fixture(scope="module")
def gcs_input(local_stack) -> str:
    """`gs://cloud-samples-data/anthropic-test-data-gcs.jsonl`, the Cloud Storage sample's source."""
    client = local_stack.storage()
    bucket = client.lookup_bucket("cloud-samples-data") or client.create_bucket(
        "cloud-samples-data", location=LOCATION
    )
    lines = "".join(json.dumps(row) + "\n" for row in _input_rows())
    bucket.blob("anthropic-test-data-gcs.jsonl").upload_from_string(lines, content_type="application/jsonl")
    return "gs://cloud-samples-data/anthropic-test-data-gcs.jsonl"


def _run_id() -> str:
    return uuid.uuid4().hex[:10]


# -- checking the outputs -----------------------------------------------------------------------


def _bigquery_output(local_stack, uri: str) -> dict[str, dict]:
    client = local_stack.bigquery()
    return {row["custom_id"]: dict(row.items()) for row in client.list_rows(uri.removeprefix("bq://"))}


def _gcs_output(local_stack, job: dict) -> dict[str, dict]:
    directory = job["outputInfo"]["gcsOutputDirectory"]
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    lines = [
        json.loads(line)
        for blob in local_stack.storage().list_blobs(bucket, prefix=prefix + "/")
        if blob.name.endswith(".jsonl")
        for line in blob.download_as_text().splitlines()
    ]
    return {line["custom_id"]: line for line in lines}


def _json(value):
    """A JSON column as the BigQuery client returns it (parsed), or a JSONL field."""
    return json.loads(value) if isinstance(value, str) else value


def _assert_every_row_answered(outputs: dict[str, dict]) -> None:
    assert sorted(outputs) == ["request-1", "request-2", "request-3"]
    for row in outputs.values():
        response = _json(row["response"])
        assert row["status"] == "" and response["role"] == "assistant"
        assert response["usage"]["output_tokens"] <= 50  # the page's max_tokens


# -- google-genai ----------------------------------------------------------------------------


def _genai(sample: str, seeds, output_uri_line: tuple[str, str], src: tuple[str, str] | None = None) -> str:
    replacements = [
        ("from google import genai\n", "import google.oauth2.credentials\nfrom google import genai\n"),
        (
            'client = genai.Client(http_options=HttpOptions(api_version="v1"))',
            # With a custom base_url, google-genai ignores GOOGLE_CLOUD_PROJECT/LOCATION (it takes
            # the URL for a gateway's): the endpoint change needs them as arguments.
            f'client = genai.Client(http_options=HttpOptions(api_version="v1", base_url="{seeds.url}"),'
            f' project="{seeds.project}", location="{LOCATION}",'
            f' credentials=google.oauth2.credentials.Credentials(token="{TOKEN}"))',
        ),
        output_uri_line,
        (
            'model="publishers/anthropic/models/claude-3-5-haiku"',
            f'model="publishers/anthropic/models/{SUCCESSOR}"',
        ),
        ("time.sleep(30)", "time.sleep(0.2)"),
    ]
    if src:
        replacements.append(src)
    return adapt(sample, *replacements)


def _genai_env(seeds) -> dict[str, str]:
    return {
        "GOOGLE_GENAI_USE_VERTEXAI": "True",
        "GOOGLE_CLOUD_PROJECT": seeds.project,
        "GOOGLE_CLOUD_LOCATION": LOCATION,
    }


def _states(out: str) -> tuple[str, list[str]]:
    name = re.search(r"^Job name: (\S+)$", out, re.M)
    assert name, out
    return name.group(1), re.findall(r"^Job state: \S*?(JOB_STATE_\w+)$", out, re.M)


def test_genai_batch_from_bigquery_runs_pending_to_succeeded_and_fills_the_table(
    seeds, tmp_path, bigquery_input, local_stack
):
    output_uri = f"bq://{seeds.project}.{DATASET}.predictions_{_run_id()}"
    code = _genai(
        GENAI_BIGQUERY,
        seeds,
        ('# output_uri = f"bq://your-project.your_dataset.your_table"', f'output_uri = f"{output_uri}"'),
        ("bq://python-docs-samples-tests.anthropic_bq_sample.test_data", bigquery_input),
    )
    name, states = _states(seeds.run_python(code, tmp_path, **_genai_env(seeds)))
    assert re.fullmatch(rf"projects/{seeds.project}/locations/{LOCATION}/batchPredictionJobs/\d+", name)
    assert states[0] == "JOB_STATE_PENDING" and states[-1] == "JOB_STATE_SUCCEEDED"
    assert set(states) <= {"JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"}
    job = seeds.job(name)
    assert job["model"] == f"publishers/anthropic/models/{SUCCESSOR}" and job["modelVersionId"] == "1"
    outputs = _bigquery_output(local_stack, output_uri)
    _assert_every_row_answered(outputs)
    assert _json(outputs["request-1"]["request"]) == _input_rows()[0]["request"]


def test_genai_batch_from_cloud_storage_runs_pending_to_succeeded_and_writes_jsonl(
    seeds, tmp_path, gcs_input, local_stack
):
    output_uri = f"gs://{seeds.project}/seeds/{_run_id()}"
    code = _genai(
        GENAI_GCS, seeds, ('# output_uri = "gs://your-bucket/your-prefix"', f'output_uri = "{output_uri}"')
    )
    name, states = _states(seeds.run_python(code, tmp_path, **_genai_env(seeds)))
    assert states[0] == "JOB_STATE_PENDING" and states[-1] == "JOB_STATE_SUCCEEDED"
    job = seeds.job(name)
    assert job["inputConfig"]["gcsSource"]["uris"] == [gcs_input]
    assert job["outputInfo"]["gcsOutputDirectory"].startswith(output_uri + "/")
    outputs = _gcs_output(local_stack, job)
    _assert_every_row_answered(outputs)
    assert outputs["request-1"]["request"] == _input_rows()[0]["request"]


# -- REST with curl ---------------------------------------------------------------------------

OUTPUTS = {
    # OUTPUT_FORMAT: (DESTINATION, OUTPUT_URI_FIELD_NAME), as the page's replacement list says
    "bigquery": ("bigqueryDestination", "outputUri"),
    "jsonl": ("gcsDestination", "outputUriPrefix"),
}


def _placeholders(seeds, fmt: str, input_uri: str) -> list[tuple[str, str]]:
    """The page's replacements, longest first (OUTPUT_URI_FIELD_NAME before OUTPUT_URI)."""
    destination, field = OUTPUTS[fmt]
    run = _run_id()
    output_uri = (
        f"bq://{seeds.project}.{DATASET}.rest_{run}"
        if fmt == "bigquery"
        else f"gs://{seeds.project}/seeds/rest-{run}"
    )
    return [
        ("JOB_NAME", f"seeds-rest-{run}"),
        ("publishers/anthropic/models/MODEL", f"publishers/anthropic/models/{VERSIONED}"),
        ("INPUT_URIS", input_uri),
        ("INPUT_URI", input_uri),
        ("OUTPUT_FORMAT", fmt),
        ('"DESTINATION"', f'"{destination}"'),
        ("OUTPUT_URI_FIELD_NAME", field),
        ("OUTPUT_URI", output_uri),
    ]


def _fill(text: str, placeholders) -> str:
    """The page's placeholders that occur in `text` (a body or a reply holds some of them)."""
    for old, new in placeholders:
        text = text.replace(old, new)
    assert not re.search(r"\b(JOB_NAME|MODEL|INPUT_URIS?|OUTPUT_\w+|DESTINATION)\b", text), text
    return text


def _endpoint(seeds) -> list[tuple[str, str]]:
    return [
        ("https://LOCATION-aiplatform.googleapis.com", seeds.url),
        ("/projects/PROJECT_ID/locations/LOCATION/", f"/projects/{seeds.project}/locations/{LOCATION}/"),
    ]


def _create(seeds, tmp_path, body: str, placeholders) -> dict:
    request_json = _fill(adapt(body, ("'{", "{"), ("}'", "}")), placeholders)
    (tmp_path / "request.json").write_text(request_json)
    script = adapt(CURL_CREATE, *_endpoint(seeds), ("curl -X POST", "curl -sS --fail-with-body -X POST"))
    return json.loads(seeds.run_shell(script, tmp_path))


def _expected(page_reply: str, placeholders, name: str) -> dict:
    expected = json.loads(_fill(adapt(page_reply), placeholders))
    assert re.fullmatch(
        r"projects/PROJECT_ID/locations/LOCATION/batchPredictionJobs/BATCH_JOB_ID", expected["name"]
    )
    expected["name"] = name
    return expected


def _get_until_done(seeds, tmp_path, name: str, timeout: float = 60) -> dict:
    job_id = name.rsplit("/", 1)[1]
    script = adapt(
        CURL_GET,
        *_endpoint(seeds),
        ("/JOB_ID", f"/{job_id}"),
        ("curl -X GET", "curl -sS --fail-with-body -X GET"),
    )
    deadline = time.monotonic() + timeout
    while True:
        job = json.loads(seeds.run_shell(script, tmp_path))
        if job["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"{name} still {job['state']}"
        time.sleep(0.2)


def _assert_like_the_page(reply: dict, expected: dict, exact_keys: bool) -> None:
    """Every field the page shows, with the page's value (times and the job id are the server's)."""
    for key in ("createTime", "updateTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", reply[key])
    if exact_keys:
        assert set(reply) == set(expected)
    for key, value in expected.items():
        if key not in ("createTime", "updateTime"):
            assert reply[key] == value, key


@pytest.mark.parametrize("fmt", ["bigquery", "jsonl"])
def test_rest_create_from_bigquery_answers_the_pages_reply_then_get_shows_succeeded(
    seeds, tmp_path, bigquery_input, local_stack, fmt
):
    placeholders = _placeholders(seeds, fmt, bigquery_input)
    created = _create(seeds, tmp_path, REST_BODY_BIGQUERY, placeholders)
    assert re.fullmatch(
        rf"projects/{seeds.project}/locations/{LOCATION}/batchPredictionJobs/\d+", created["name"]
    )
    _assert_like_the_page(
        created, _expected(REST_RESPONSE_BIGQUERY, placeholders, created["name"]), exact_keys=True
    )
    assert created["state"] == "JOB_STATE_PENDING"
    done = _get_until_done(seeds, tmp_path, created["name"])
    _assert_like_the_page(done, _expected(GET_RESPONSE, placeholders, created["name"]), exact_keys=False)
    output = dict(placeholders)["OUTPUT_URI"]
    outputs = _bigquery_output(local_stack, output) if fmt == "bigquery" else _gcs_output(local_stack, done)
    _assert_every_row_answered(outputs)


@pytest.mark.parametrize("fmt", ["jsonl", "bigquery"])
def test_rest_create_from_cloud_storage_takes_uris_as_a_string_and_echoes_a_list(
    seeds, tmp_path, gcs_input, dataset, local_stack, fmt
):
    placeholders = _placeholders(seeds, fmt, gcs_input)
    created = _create(seeds, tmp_path, REST_BODY_GCS, placeholders)
    expected = _expected(REST_RESPONSE_GCS, placeholders, created["name"])
    assert expected["inputConfig"]["gcsSource"]["uris"] == [gcs_input]
    _assert_like_the_page(created, expected, exact_keys=True)
    done = _get_until_done(seeds, tmp_path, created["name"])
    assert done["state"] == "JOB_STATE_SUCCEEDED" and done["modelVersionId"] == "1", done
    assert done["inputConfig"]["gcsSource"]["uris"] == [gcs_input]
    output = dict(placeholders)["OUTPUT_URI"]
    outputs = _bigquery_output(local_stack, output) if fmt == "bigquery" else _gcs_output(local_stack, done)
    _assert_every_row_answered(outputs)


def test_rest_uris_string_with_commas_is_a_list_of_every_uri(seeds, tmp_path, gcs_input, local_stack):
    """INPUT_URIS is "a comma-separated list" on the page: each URI is read."""
    placeholders = _placeholders(seeds, "jsonl", f"{gcs_input}, {gcs_input}")
    created = _create(seeds, tmp_path, REST_BODY_GCS, placeholders)
    assert created["inputConfig"]["gcsSource"]["uris"] == [gcs_input, gcs_input]
    done = _get_until_done(seeds, tmp_path, created["name"])
    assert done["completionStats"]["successfulCount"] == "6"
