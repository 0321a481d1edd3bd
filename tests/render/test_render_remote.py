"""gs:// and bq:// inputs on the local stack (real emulators, official clients)."""

from __future__ import annotations

import base64
import io
import uuid

import orjson
import pytest
from render_helpers import png, prepared_spec, template_spec

from runner.dataio.sources import open_rows
from runner.errors import RemoteError, SpecError
from runner.render.requests import render_requests
from runner.spec.model import SourceRef

pytestmark = pytest.mark.stack

BUCKET = "claude-jobs-local"  # seeded by the local stack
DATASET = "claude_jobs"
ASK = [{"role": "user", "content": "{{ text }}"}]


def _upload(target, data: bytes, suffix: str) -> str:
    name = f"render-tests/{uuid.uuid4().hex[:8]}{suffix}"
    target.storage().bucket(BUCKET).blob(name).upload_from_string(data)
    return f"gs://{BUCKET}/{name}"


def _table(target, rows: list[dict], schema: list[tuple[str, str]]) -> str:
    from google.cloud import bigquery

    client = target.bigquery()
    table_id = f"{target.project}.{DATASET}.render_{uuid.uuid4().hex[:8]}"
    client.create_table(bigquery.Table(table_id, schema=[bigquery.SchemaField(n, t) for n, t in schema]))
    ndjson = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_file(io.BytesIO(ndjson), table_id, job_config=config).result()
    return table_id


def test_gcs_jsonl_rows_render_with_object_line_numbers(local_stack, repo):
    uri = _upload(local_stack, b'{"id": 1, "text": "a"}\n\n{"id": 2, "text": "b"}\n', ".jsonl")
    spec = template_spec(repo, SourceRef("gcs", uri), ASK)
    got = [(r.custom_id, r.body["messages"][0]["content"]) for r in render_requests(spec, local_stack)]
    assert got == [("row-1", "a"), ("row-2", "b")]
    assert list(open_rows(SourceRef("gcs", uri), local_stack).numbered())[1][0] == 3


def test_gcs_csv_rows_and_header(local_stack):
    uri = _upload(local_stack, b'id,text\n1,hello\n2,"x,y"\n', ".csv")
    rows = open_rows(SourceRef("gcs", uri), local_stack)
    assert rows.columns() == ["id", "text"]
    assert list(rows) == [{"id": "1", "text": "hello"}, {"id": "2", "text": "x,y"}]


def test_gcs_object_larger_than_a_read_chunk_streams_whole_lines(local_stack, monkeypatch):
    import runner.dataio.sources as sources

    monkeypatch.setattr(sources, "GCS_CHUNK", 1000)
    lines = [orjson.dumps({"i": i, "pad": "p" * (i % 50)}) for i in range(300)]
    uri = _upload(local_stack, b"\n".join(lines), ".jsonl")
    assert [row["i"] for row in open_rows(SourceRef("gcs", uri), local_stack)] == list(range(300))


def test_gcs_bad_line_is_located_in_the_object(local_stack):
    uri = _upload(local_stack, b'{"id": 1}\n"just a string"\n', ".jsonl")
    with pytest.raises(SpecError, match=rf"^{uri}:2: not a JSON object"):
        list(open_rows(SourceRef("gcs", uri), local_stack))


def test_gcs_missing_object_is_a_spec_error_with_a_fix(local_stack):
    uri = f"gs://{BUCKET}/render-tests/missing-{uuid.uuid4().hex}.jsonl"
    with pytest.raises(SpecError) as err:
        list(open_rows(SourceRef("gcs", uri), local_stack))
    assert err.value.exit_code == 1
    assert str(err.value) == (
        f"{uri}: no such Cloud Storage object: {uri} (upload it first: gcloud storage cp FILE {uri})"
    )


def test_gcs_source_in_a_missing_bucket_names_the_bucket_not_the_object(local_stack):
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    uri = f"gs://{bucket}/missing.jsonl"
    with pytest.raises(SpecError) as err:
        list(open_rows(SourceRef("gcs", uri), local_stack))
    assert err.value.exit_code == 1
    assert str(err.value) == (
        f"{uri}: no such Cloud Storage bucket: gs://{bucket} (create it, or fix the bucket name)"
    )


def test_gcs_fingerprint_changes_when_the_object_is_rewritten(local_stack):
    uri = _upload(local_stack, b'{"id": 1}\n', ".jsonl")
    ref = SourceRef("gcs", uri)
    before = open_rows(ref, local_stack).fingerprint()
    assert open_rows(ref, local_stack).fingerprint() == before
    local_stack.storage().bucket(BUCKET).blob(uri.split("/", 3)[3]).upload_from_string(b'{"id": 2}\n')
    assert open_rows(ref, local_stack).fingerprint() != before


def test_gcs_image_is_downloaded_once_and_encoded(local_stack, repo):
    uri = _upload(local_stack, png(), ".png")
    (repo / "data" / "rows.jsonl").write_bytes(b'{"id": 1}\n{"id": 2}\n')
    from render_helpers import file_source

    spec = template_spec(
        repo,
        file_source(repo, "../data/rows.jsonl"),
        [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "gcs", "uri": "{{ '" + uri + "' }}"}}],
            }
        ],
    )
    first, second = render_requests(spec, local_stack)
    source = first.body["messages"][0]["content"][0]["source"]
    assert source == {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png()).decode()}
    assert second.body["messages"][0]["content"][0]["source"] is source


def test_bigquery_table_rows_decode_json_columns(local_stack, repo):
    table = _table(
        local_stack,
        [{"id": 1, "text": "hi", "meta": orjson.dumps({"k": "v"}).decode()}],
        [("id", "INTEGER"), ("text", "STRING"), ("meta", "JSON")],
    )
    rows = open_rows(SourceRef("bigquery", f"bq://{table}"), local_stack)
    assert rows.columns() == ["id", "text", "meta"]
    assert list(rows.numbered()) == [(1, {"id": 1, "text": "hi", "meta": {"k": "v"}})]
    assert rows.fingerprint().startswith("bq:")
    spec = template_spec(
        repo, SourceRef("bigquery", f"bq://{table}"), [{"role": "user", "content": "{{ text }} {{ meta.k }}"}]
    )
    [request] = render_requests(spec, local_stack)
    assert request.body["messages"][0]["content"] == "hi v"


def test_bigquery_query_rows(local_stack):
    table = _table(local_stack, [{"id": i} for i in range(3)], [("id", "INTEGER")])
    ref = SourceRef("query", f"SELECT id * 10 AS n FROM `{table}` ORDER BY id", project=local_stack.project)
    assert [row["n"] for row in open_rows(ref, local_stack)] == [0, 10, 20]
    assert open_rows(ref, local_stack).fingerprint().startswith("query:")


def test_bigquery_missing_table_is_a_spec_error(local_stack):
    ref = SourceRef("bigquery", f"bq://{local_stack.project}.{DATASET}.nope_{uuid.uuid4().hex[:6]}")
    with pytest.raises(SpecError, match="no such BigQuery table"):
        list(open_rows(ref, local_stack))


def test_prepared_bigquery_input_table_passes_requests_through(local_stack, repo):
    request = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
        "anthropic_version": "vertex-2023-10-16",
    }
    table = _table(
        local_stack,
        [{"custom_id": "q-1", "request": orjson.dumps(request).decode()}],
        [("custom_id", "STRING"), ("request", "JSON")],
    )
    [got] = render_requests(prepared_spec(repo, SourceRef("bigquery", f"bq://{table}")), local_stack)
    assert (got.custom_id, got.body) == ("q-1", request)


def test_revision_follows_a_static_gcs_image(local_stack, repo):
    from render_helpers import inline_spec

    from runner.render.revision import spec_revision

    uri = _upload(local_stack, png(), ".png")
    spec = inline_spec(
        repo,
        [
            {
                "custom_id": "a",
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "gcs", "uri": uri}}]}
                ],
            }
        ],
    )
    before = spec_revision(spec, local_stack)
    assert spec_revision(spec, local_stack) == before
    local_stack.storage().bucket(BUCKET).blob(uri.split("/", 3)[3]).upload_from_string(png(9, 9))
    assert spec_revision(spec, local_stack) != before


def test_a_query_bigquery_refuses_is_a_located_remote_error(local_stack):
    ref = SourceRef("query", "SELECT no_such_column FROM no_such_table_anywhere", project=local_stack.project)
    rows = open_rows(ref, local_stack)
    with pytest.raises(RemoteError) as err:
        list(rows)
    assert err.value.exit_code == 4 and err.value.where == rows.name
    assert err.value.message.startswith("BigQuery read failed: Google Cloud refused the request: ")
