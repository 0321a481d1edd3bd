"""Result sinks: every destination ends with exactly the rows put, however often a part is re-put."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from runner.dataio.sinks import BigQuerySink, FileSink, GcsSink, open_sink, read_destination
from runner.records import ResultRow

BUCKET = "claude-jobs-local"  # seeded by the local stack
DATASET = "claude_jobs"


def rows(*ids, status="succeeded"):
    return [
        ResultRow(
            custom_id=i,
            status=status,
            response={"content": [{"type": "text", "text": i}]},
            usage={"input_tokens": 3, "output_tokens": 5},
            latency_ms=1.5,
            processed_time="2026-01-01T00:00:00Z",
        )
        for i in ids
    ]


def ids_at(sink):
    return sorted(r["custom_id"] for r in read_destination(sink))


def fake_spec(tmp_path):
    return SimpleNamespace(resolve_local=lambda rel: (tmp_path / rel).resolve(), region="us-east5")


def test_local_path_is_relative_to_the_spec_folder(tmp_path):
    sink = open_sink("out/results.jsonl", fake_spec(tmp_path), target=None)
    assert isinstance(sink, FileSink)
    assert sink.path == tmp_path / "out" / "results.jsonl"


def test_file_recover_drops_rows_appended_after_the_last_known_state(tmp_path):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    sink.put(1, rows("a", "b"))
    sink.put(2, rows("c"))
    with open(sink.path, "ab") as f:
        f.write(b'{"custom_id": "half')  # a crash mid-append
    sink.recover(lambda: rows("a", "b", "c"))
    assert ids_at(sink) == ["a", "b", "c"]


def test_file_recover_restores_rows_missing_after_a_crash(tmp_path):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    sink.put(1, rows("a"))
    sink.recover(lambda: rows("a", "b"))
    assert ids_at(sink) == ["a", "b"]


def test_file_write_all_replaces_previous_content(tmp_path):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    sink.put(1, rows("old"))
    assert sink.write_all(rows("a", "b")) == 2
    assert ids_at(sink) == ["a", "b"]


@pytest.fixture
def gcs_sink(local_stack):
    prefix = f"sink-tests/{uuid.uuid4().hex[:8]}"
    return GcsSink(local_stack, BUCKET, prefix, f"gs://{BUCKET}/{prefix}")


def test_gcs_re_putting_a_part_never_duplicates_rows(gcs_sink):
    gcs_sink.put(1, rows("a", "b"))
    gcs_sink.put(2, rows("c"))
    gcs_sink.put(1, rows("a", "b"))
    assert ids_at(gcs_sink) == ["a", "b", "c"]
    names = [b.name for b in gcs_sink.client.list_blobs(gcs_sink.bucket, prefix=gcs_sink.prefix)]
    assert names == [f"{gcs_sink.prefix}/results-00000001.jsonl", f"{gcs_sink.prefix}/results-00000002.jsonl"]


def test_gcs_rewriting_a_part_replaces_its_rows(gcs_sink):
    gcs_sink.put(1, rows("a", "b", status="errored"))
    gcs_sink.put(2, rows("b"))
    gcs_sink.recover(lambda: (), changed=[(1, rows("a", status="errored"))])
    assert ids_at(gcs_sink) == ["a", "b"]


def test_gcs_reset_removes_only_result_shards(gcs_sink):
    other = gcs_sink.bucket.blob(f"{gcs_sink.prefix}/notes.txt")
    other.upload_from_string(b"keep me")
    gcs_sink.put(1, rows("a"))
    gcs_sink.reset()
    assert ids_at(gcs_sink) == []
    assert other.exists()


@pytest.fixture
def bq_sink(local_stack):
    table = f"{local_stack.project}.{DATASET}.sink_{uuid.uuid4().hex[:8]}"
    return BigQuerySink(local_stack, table, f"bq://{table}", "us-east5")


def test_bigquery_table_is_created_with_the_result_schema(bq_sink):
    table = bq_sink.client.get_table(bq_sink.table_id)
    assert [(f.name, f.field_type) for f in table.schema][:4] == [
        ("custom_id", "STRING"),
        ("status", "STRING"),
        ("text", "STRING"),  # a job without output.schema: the answer's text
        ("error", "JSON"),
    ]
    assert "response" in [f.name for f in table.schema]


def _old_table(local_stack, rows: int) -> str:
    from google.cloud import bigquery

    table_id = f"{local_stack.project}.{DATASET}.old_{uuid.uuid4().hex[:8]}"
    client = local_stack.bigquery()
    old = [bigquery.SchemaField("custom_id", "STRING"), bigquery.SchemaField("status", "STRING")]
    client.create_table(bigquery.Table(table_id, schema=old))
    if rows:
        client.query(f"INSERT INTO `{table_id}` (custom_id, status) VALUES ('x', 'succeeded')").result()
    return table_id


def test_an_empty_table_of_an_older_result_shape_is_made_again(local_stack):
    table_id = _old_table(local_stack, rows=0)
    sink = BigQuerySink(local_stack, table_id, f"bq://{table_id}", "us-east5")
    sink.put(1, [ResultRow("a", "succeeded", text="hi")])
    rows = [dict(r.items()) for r in local_stack.bigquery().list_rows(table_id)]
    assert rows[0]["text"] == "hi" and "model" in rows[0]


def test_a_table_holding_rows_of_another_shape_is_refused_until_a_restart_replaces_it(local_stack):
    from runner.errors import StateError

    table_id = _old_table(local_stack, rows=1)
    sink = BigQuerySink(local_stack, table_id, f"bq://{table_id}", "us-east5")
    with pytest.raises(StateError, match=r"has no column\(s\) text, error"):
        sink.put(1, [ResultRow("a", "succeeded", text="hi")])
    sink.reset()  # what --restart does
    sink.put(1, [ResultRow("a", "succeeded", text="hi")])
    assert [r["text"] for r in local_stack.bigquery().list_rows(table_id)] == ["hi"]


def test_bigquery_re_putting_a_part_never_duplicates_rows(bq_sink):
    bq_sink.put(1, rows("a", "b"))
    bq_sink.put(1, rows("a", "b"))
    bq_sink.put(2, rows("c"))
    assert ids_at(bq_sink) == ["a", "b", "c"]


def test_bigquery_a_re_sent_row_replaces_the_old_one(bq_sink):
    bq_sink.put(1, rows("a", "b", status="errored"))
    bq_sink.put(2, rows("b"))
    stored = {r["custom_id"]: r["status"] for r in read_destination(bq_sink)}
    assert stored == {"a": "errored", "b": "succeeded"}


def test_bigquery_json_columns_hold_the_response(bq_sink):
    bq_sink.put(1, rows("a"))
    (row,) = list(
        bq_sink.client.query(
            f"SELECT JSON_VALUE(response, '$.content[0].text') AS text FROM `{bq_sink.table_id}`"
        ).result()
    )
    assert row["text"] == "a"


def test_gcs_write_all_leaves_exactly_the_given_rows(gcs_sink):
    gcs_sink.put(7, rows("stale"))
    gcs_sink.part_rows = 2
    assert gcs_sink.write_all(rows("a", "b", "c")) == 3
    assert ids_at(gcs_sink) == ["a", "b", "c"]


def test_bigquery_write_all_leaves_exactly_the_given_rows(bq_sink):
    bq_sink.put(1, rows("stale"))
    assert bq_sink.write_all(rows("a", "b")) == 2
    assert ids_at(bq_sink) == ["a", "b"]


def test_a_bad_destination_is_a_usage_error(tmp_path):
    from runner.errors import UsageError

    with pytest.raises(UsageError, match="bq://project.dataset.table"):
        open_sink("bq://only.two", fake_spec(tmp_path), target=None)
    with pytest.raises(UsageError, match="bucket"):
        open_sink("gs:///prefix", fake_spec(tmp_path), target=None)


def test_a_file_destination_that_is_a_folder_is_refused_when_the_sink_opens(tmp_path):
    from runner.errors import ConfigError

    (tmp_path / "r.jsonl").mkdir()
    with pytest.raises(ConfigError) as caught:
        FileSink(tmp_path / "r.jsonl", "r.jsonl", "spec.yaml: $.destination")
    assert str(caught.value).startswith("spec.yaml: $.destination: cannot write r.jsonl: it is a folder")


def test_gcs_holds_data_once_a_result_shard_is_there(gcs_sink):
    gcs_sink.bucket.blob(f"{gcs_sink.prefix}/notes.txt").upload_from_string(b"not ours to clear")
    assert not gcs_sink.holds_data()
    gcs_sink.put(1, rows("a"))
    assert gcs_sink.holds_data()


def test_bigquery_holds_data_once_the_table_has_a_row(bq_sink):
    assert not bq_sink.holds_data()
    bq_sink.put(1, rows("a"))
    assert bq_sink.holds_data()
