"""Typed results in batch mode: typed columns, kept columns joined back, bad answers errored and re-sent."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from batch_harness import DATASET, TICKET_TABLE, destination_rows, jobs_of, run

from runner.batch.readback import JobFiles

OUTPUT = """output:
  schema:
    type: object
    properties:
      category: {type: string, enum: [billing, bug, how-to, account]}
      priority: {type: integer, minimum: 1, maximum: 4}
    required: [category, priority]
    additionalProperties: false
  keep: [product]
"""


def _answer_faults(url: str, rates: dict) -> None:
    request = urllib.request.Request(
        f"{url}/_local/config",
        data=json.dumps({"answer_faults": rates}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def faults(local_stack):
    yield lambda rates: _answer_faults(local_stack.vertex_url, rates)
    _answer_faults(local_stack.vertex_url, {})


@pytest.mark.usefixtures("server")
def test_gcs_batch_rows_carry_the_kept_column_and_checked_answer(
    local_stack, make_spec, source_ids, monkeypatch
):
    def not_read(*_):
        raise AssertionError(
            "every segment has its .kept object: they are the join's index, .ids is not read"
        )

    monkeypatch.setattr(JobFiles, "input_ids", not_read)
    spec = make_spec(extra=OUTPUT)
    summary = run(spec, local_stack)
    assert (summary.state, summary.errored) == ("done", 0), summary.details.get("report")
    rows = destination_rows(spec, local_stack)
    assert sorted(r["custom_id"] for r in rows) == source_ids
    for row in rows:
        assert row["category"] in ("billing", "bug", "how-to", "account") and 1 <= row["priority"] <= 4
        assert row["product"] and row["mode"] == "batch"


@pytest.mark.usefixtures("server")
def test_bigquery_in_and_out_gives_typed_and_kept_columns(local_stack, make_spec, monkeypatch):
    def not_here(*_):
        raise AssertionError("BigQuery in and out: the kept columns are joined by BigQuery, not the client")

    monkeypatch.setattr("runner.batch.kept.attach_kept", not_here)
    monkeypatch.setattr("runner.batch.kept.KeptSlots", not_here)
    table = f"typed_{uuid.uuid4().hex[:8]}"
    spec = make_spec(
        source=TICKET_TABLE,
        input=DATASET,
        destination=f"bq://claude-jobs-local.claude_jobs.{table}",
        extra=OUTPUT,
    )
    summary = run(spec, local_stack, restart=True)
    assert (summary.state, summary.errored) == ("done", 0), summary.details.get("report")
    client = local_stack.bigquery()
    fields = {f.name: f.field_type for f in client.get_table(f"claude-jobs-local.claude_jobs.{table}").schema}
    assert fields["product"] == "STRING" and fields["priority"] in ("INT64", "INTEGER")
    counts = list(
        client.query(
            f"SELECT category, COUNT(*) AS n FROM `claude-jobs-local.claude_jobs.{table}` GROUP BY category"
        ).result()
    )
    assert sum(r["n"] for r in counts) == summary.total > 0
    assert all(r["product"] for r in destination_rows(spec, local_stack))


@pytest.mark.usefixtures("server")
def test_retry_failed_resubmits_exactly_the_bad_answers(local_stack, make_spec, faults):
    faults({"refusal": 0.2, "schema_mismatch": 0.2})
    spec = make_spec(extra=OUTPUT)
    first = run(spec, local_stack)
    bad = {
        r["custom_id"]: r["error"]["type"]
        for r in destination_rows(spec, local_stack)
        if r["status"] == "errored"
    }
    assert first.errored == len(bad) > 0 and set(bad.values()) <= {"refusal", "schema_mismatch"}
    faults({})
    again = run(spec, local_stack, retry_failed=True)
    assert again.errored == 0
    retry_jobs = [j for j in jobs_of(spec, local_stack) if j.labels.get("claude-jobs-retry")]
    assert sum(int(j.labels["claude-jobs-rows"]) for j in retry_jobs) == len(bad)
    rows = destination_rows(spec, local_stack)
    assert all(r["status"] == "succeeded" and r["product"] for r in rows)
