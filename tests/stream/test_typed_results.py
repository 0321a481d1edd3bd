"""Typed results in stream mode: answers checked into columns, kept source columns, typed errors,
`--retry-failed` re-sending exactly the bad answers, and the examples on the local stack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from stream_helpers import lifted_quotas, write_spec

from runner.records import RunOptions
from runner.spec import load_spec
from runner.stream import run_stream

EXAMPLES = Path(__file__).parents[2] / "jobs" / "examples"
SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
    },
    "required": ["category", "priority"],
    "additionalProperties": False,
}
OUTPUT = {"schema": SCHEMA, "keep": ["q"]}
QUIET_RUN = RunOptions(progress=False)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(spec_path, target, **options):
    return run_stream(load_spec(spec_path), target, RunOptions(progress=False, **options))


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-haiku-4-5@20251001"])
def test_every_row_has_the_kept_columns_then_the_answer_fields_then_diagnostics(
    quiet_vertex, state_home, model
):
    spec = write_spec(state_home, rows=6, output=OUTPUT, model=model, max_tokens=200)
    summary = _run(spec, quiet_vertex.target())
    assert (summary.succeeded, summary.errored) == (6, 0)
    rows = _lines(state_home / "out" / "r.jsonl")
    assert list(rows[0])[:5] == ["custom_id", "status", "q", "category", "priority"]
    assert list(rows[0])[5:] == [
        "error",
        "stop_reason",
        "usage",
        "model",
        "processed_time",
        "response",
        "attempts",
        "latency_ms",
        "mode",
    ]
    for row in rows:
        jsonschema.validate({"category": row["category"], "priority": row["priority"]}, SCHEMA)
        assert row["q"] == f"question number {int(row['custom_id'][1:])}"
        assert row["model"] == model


def test_a_plain_job_gets_a_text_column(quiet_vertex, state_home):
    spec = write_spec(state_home, rows=2)
    _run(spec, quiet_vertex.target())
    rows = _lines(state_home / "out" / "r.jsonl")
    assert all(row["text"] and row["text"] == row["response"]["content"][0]["text"] for row in rows)


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("invalid_json", "invalid_json"),
        ("schema_mismatch", "schema_mismatch"),
        ("refusal", "refusal"),
        ("max_tokens", "max_tokens"),
    ],
)
def test_a_bad_answer_is_an_errored_row_of_its_own_type(quiet_vertex, state_home, fault, error_type):
    quiet_vertex.configure(answer_faults={fault: 1.0})
    spec = write_spec(state_home, rows=3, output=OUTPUT, model="claude-sonnet-4-6", max_tokens=200)
    summary = _run(spec, quiet_vertex.target())
    assert (summary.succeeded, summary.errored) == (0, 3)
    for row in _lines(state_home / "out" / "r.jsonl"):
        assert row["status"] == "errored" and row["error"]["type"] == error_type
        assert row["category"] is None and row["response"] is not None  # the raw answer stays
    if fault == "schema_mismatch":
        assert row["error"]["path"] == "$.category"
        assert row["error"]["message"].startswith("$.category: 12345 is not")


def test_retry_failed_resends_exactly_the_bad_answers(quiet_vertex, state_home):
    quiet_vertex.configure(answer_faults={"refusal": 0.2, "schema_mismatch": 0.2, "invalid_json": 0.1})
    spec = write_spec(state_home, rows=40, output=OUTPUT, model="claude-sonnet-4-6", max_tokens=200)
    first = _run(spec, quiet_vertex.target())
    bad = {r["custom_id"] for r in _lines(state_home / "out" / "r.jsonl") if r["status"] == "errored"}
    assert first.errored == len(bad) > 0 and first.succeeded == 40 - len(bad)
    quiet_vertex.configure(answer_faults={})
    again = _run(spec, quiet_vertex.target(), retry_failed=True)
    assert quiet_vertex.stats()["requests"] == len(bad)  # configure() zeroed the stats: only them
    assert (again.succeeded, again.errored) == (40, 0)
    rows = _lines(state_home / "out" / "r.jsonl")
    assert len(rows) == len({r["custom_id"] for r in rows}) == 40


def test_the_stream_example_writes_typed_jsonl_lines(local_stack, tmp_path, monkeypatch):
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("results"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "state"))
    spec = lifted_quotas(load_spec(examples / "stream-typed-jsonl.yaml"))
    summary = run_stream(spec, local_stack, QUIET_RUN)
    assert summary.succeeded == 20
    rows = _lines(examples / "results" / "stream-typed-jsonl.jsonl")
    schema = spec.output.schema
    for row in rows:
        jsonschema.validate({k: row[k] for k in schema["properties"]}, schema)
        assert row["product"]


def test_the_bigquery_example_leaves_typed_columns_and_group_by_works(local_stack, tmp_path, monkeypatch):
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("results"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "state"))
    spec = lifted_quotas(load_spec(examples / "typed-triage-bq.yaml"))
    summary = run_stream(spec, local_stack, RunOptions(progress=False, restart=True))
    assert summary.succeeded == 20
    client = local_stack.bigquery()
    table = client.get_table("claude-jobs-local.claude_jobs.typed_triage")
    types = {f.name: (f.field_type, f.mode) for f in table.schema}
    assert types["id"][0] == "STRING" and types["product"][0] == "STRING"
    assert types["category"] == ("STRING", "NULLABLE")
    assert types["priority"] in (("INTEGER", "NULLABLE"), ("INT64", "NULLABLE"))
    assert types["tags"] == ("STRING", "REPEATED")
    assert types["customer_impact"][0] in ("RECORD", "STRUCT")
    assert types["response"][0] == "JSON"
    counts = {
        row["category"]: row["n"]
        for row in client.query(
            "SELECT category, COUNT(*) AS n FROM `claude-jobs-local.claude_jobs.typed_triage` GROUP BY category"
        ).result()
    }
    assert sum(counts.values()) == 20 and set(counts) <= {"billing", "bug", "how-to", "account"}


def test_results_table_shows_the_kept_and_typed_columns(quiet_vertex, state_home, capsys, monkeypatch):
    from dataclasses import replace

    from runner.cli import invoke

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    spec = write_spec(state_home, rows=3, output=OUTPUT, model="claude-sonnet-4-6", max_tokens=200)
    run_stream(load_spec(spec), replace(quiet_vertex.target(), project="claude-jobs-local"), QUIET_RUN)
    capsys.readouterr()
    assert invoke(["results", str(spec), "--format", "table"]) == 0
    header, *rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert header[:5] == ["custom_id", "status", "q", "category", "priority"]
    assert len(rows) >= 3
    assert invoke(["results", str(spec), "--limit", "1"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert list(line)[:5] == ["custom_id", "status", "q", "category", "priority"]
