"""run_stream end to end on a local Vertex AI server: results, resume, retries, failures, guards."""

from __future__ import annotations

import json
import uuid

import pytest
from stream_helpers import QUIET, write_spec

from runner.errors import SpecError, StateError
from runner.records import RunOptions
from runner.spec import load_spec
from runner.stream import iter_results, run_stream, stream_status

FAST = RunOptions(progress=False)
ALL_FAULTS = {
    "seed": 7,
    "stall_seconds": 30,
    "rates": {
        "rate_limited": 0.1,
        "overloaded": 0.1,
        "server_error": 0.05,
        "stream_error": 0.1,
        "dropped_connection": 0.05,
    },
}


def results_file(folder):
    lines = (folder / "out" / "r.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def run(folder, vertex, options=FAST, **spec_args):
    spec = load_spec(write_spec(folder, **spec_args))
    return run_stream(spec, vertex.target(), options), spec


def test_every_row_gets_exactly_one_result(state_home, quiet_vertex):
    summary, _ = run(state_home, quiet_vertex, rows=50)
    rows = results_file(state_home)
    assert sorted(r["custom_id"] for r in rows) == [f"r{i:06d}" for i in range(50)]
    assert (summary.total, summary.succeeded, summary.errored) == (50, 50, 0)
    assert all(r["status"] == "succeeded" and r["response"]["content"] for r in rows)
    assert summary.input_tokens == sum(r["usage"]["input_tokens"] for r in rows)
    assert summary.cost_usd > 0


def test_the_model_goes_in_the_url_and_the_version_in_the_body(state_home, quiet_vertex):
    import urllib.request

    run(state_home, quiet_vertex, rows=1)
    with urllib.request.urlopen(f"{quiet_vertex.url}/_local/requests?limit=1") as r:
        (entry,) = json.loads(r.read())["requests"]
    assert entry["path"].endswith("/models/claude-haiku-4-5@20251001:streamRawPredict")
    assert entry["body"]["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in entry["body"]


def test_calls_go_to_the_targets_region_which_run_region_overrides(state_home, quiet_vertex):
    import urllib.request
    from dataclasses import replace

    spec = load_spec(write_spec(state_home, rows=1))
    run_stream(spec, replace(quiet_vertex.target(), region="europe-west1"), FAST)
    with urllib.request.urlopen(f"{quiet_vertex.url}/_local/requests?limit=1") as r:
        (entry,) = json.loads(r.read())["requests"]
    assert "/locations/europe-west1/" in entry["path"]


def test_unary_calls_when_streaming_is_off(state_home, quiet_vertex):
    summary, _ = run(state_home, quiet_vertex, rows=5, stream={"streaming": False})
    assert summary.succeeded == 5
    assert quiet_vertex.stats().get("endpoint.rawPredict") == 5


def test_re_running_sends_nothing_for_finished_rows(state_home, quiet_vertex):
    run(state_home, quiet_vertex, rows=30)
    quiet_vertex.configure(**QUIET)
    summary, _ = run(state_home, quiet_vertex, rows=30)
    assert quiet_vertex.stats().get("requests", 0) == 0
    assert (summary.skipped, summary.succeeded) == (30, 30)
    assert len(results_file(state_home)) == 30


def test_a_re_run_with_every_row_done_never_imports_the_sdk(state_home, quiet_vertex):
    """GitOps pipelines re-run every spec on every merge: one with nothing left to send skips the
    ~1.6 s of CPU the `anthropic` package takes to import."""
    import subprocess
    import sys

    run(state_home, quiet_vertex, rows=5)
    child = (
        "import sys\n"
        "from runner.clients import Target\n"
        "from runner.records import RunOptions\n"
        "from runner.spec import load_spec\n"
        "from runner.stream import run_stream\n"
        f"target = Target(project='p', local=True, vertex_url={quiet_vertex.url!r})\n"
        "summary = run_stream(load_spec('spec.yaml'), target, RunOptions(progress=False))\n"
        "print(summary.skipped, 'anthropic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["5", "False"]
    assert quiet_vertex.stats().get("requests", 0) == 5  # the first run's calls only


def test_transient_faults_are_retried_until_every_row_succeeds(state_home, quiet_vertex):
    quiet_vertex.configure(**{**QUIET, "faults": ALL_FAULTS})
    summary, _ = run(state_home, quiet_vertex, rows=60, stream={"max_retries": 12})
    rows = results_file(state_home)
    assert summary.succeeded == 60 and len(rows) == 60
    assert summary.details["attempts"] > 60
    assert any(r["attempts"] > 1 for r in rows)
    assert sum(r["attempts"] for r in rows) == summary.details["attempts"]


def test_a_fatal_error_fails_the_row_at_once_with_its_reason(state_home, quiet_vertex):
    quiet_vertex.configure(**{**QUIET, "disabled_models": ["claude-haiku-4-5@20251001"]})
    summary, _ = run(state_home, quiet_vertex, rows=4)
    rows = results_file(state_home)
    assert summary.errored == 4 and not summary.ok
    assert all(
        r["status"] == "errored"
        and r["attempts"] == 1
        and r["error"]["code"] == 400
        and r["error"]["message"]
        for r in rows
    )


def test_retries_off_fails_a_row_on_its_first_429(state_home, quiet_vertex):
    quiet_vertex.configure(**{**QUIET, "faults": {"seed": 1, "rates": {"rate_limited": 1.0}}})
    summary, _ = run(state_home, quiet_vertex, rows=3, stream={"max_retries": 0})
    assert summary.errored == 3
    assert quiet_vertex.stats()["requests"] == 3
    assert {r["error"]["code"] for r in results_file(state_home)} == {429}


def test_retry_failed_resends_only_errored_rows_and_replaces_their_results(state_home, quiet_vertex):
    script = state_home / "script.jsonl"
    script.write_text(
        json.dumps(
            {
                "match": {"contains": "question number 3"},
                "error": {
                    "status": 400,
                    "body": {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}},
                },
            }
        )
        + "\n"
    )
    quiet_vertex.configure(**{**QUIET, "scripted_replies": str(script)})
    first, _ = run(state_home, quiet_vertex, rows=10)
    assert (first.succeeded, first.errored) == (9, 1)
    quiet_vertex.configure(**QUIET)
    plain, _ = run(state_home, quiet_vertex, rows=10)
    assert quiet_vertex.stats().get("requests", 0) == 0 and plain.errored == 1
    again, _ = run(state_home, quiet_vertex, RunOptions(progress=False, retry_failed=True), rows=10)
    assert quiet_vertex.stats()["requests"] == 1
    assert (again.succeeded, again.errored) == (10, 0)
    rows = results_file(state_home)
    assert len(rows) == 10 and {r["status"] for r in rows} == {"succeeded"}


def test_a_changed_spec_is_refused_until_restart(state_home, quiet_vertex):
    run(state_home, quiet_vertex, rows=5)
    with pytest.raises(StateError, match="--restart"):
        run(state_home, quiet_vertex, rows=5, max_tokens=64)
    summary, _ = run(
        state_home, quiet_vertex, RunOptions(progress=False, restart=True), rows=5, max_tokens=64
    )
    assert (summary.skipped, summary.succeeded) == (0, 5)
    assert len(results_file(state_home)) == 5


def test_a_budget_is_checked_before_anything_is_sent(state_home, quiet_vertex):
    with pytest.raises(SpecError, match="max_requests"):
        run(state_home, quiet_vertex, rows=11, budget={"max_requests": 10})
    with pytest.raises(SpecError, match="max_input_tokens"):
        run(state_home, quiet_vertex, rows=11, budget={"max_input_tokens": 20})
    assert quiet_vertex.stats().get("requests", 0) == 0


def test_status_and_results_read_the_ledger(state_home, quiet_vertex):
    _, spec = run(state_home, quiet_vertex, rows=7)
    status = stream_status(spec, quiet_vertex.target())
    assert (status["succeeded"], status["errored"], status["changed"]) == (7, 0, False)
    assert sorted(r.custom_id for r in iter_results(spec, "p")) == [f"r{i:06d}" for i in range(7)]


def test_rows_done_on_one_project_are_not_done_on_another(state_home, quiet_vertex):
    from dataclasses import replace

    run(state_home, quiet_vertex, rows=3)
    spec = load_spec(write_spec(state_home, rows=3, destination="out/real.jsonl"))
    summary = run_stream(spec, replace(quiet_vertex.target(), project="real-project"), FAST)
    assert (summary.skipped, summary.succeeded) == (0, 3)
    assert quiet_vertex.stats()["requests"] == 6
    assert stream_status(spec, project="real-project")["succeeded"] == 3


@pytest.mark.parametrize("kind", ["gs", "bq"])
def test_cloud_destinations_hold_one_result_per_custom_id_after_retry_failed(
    state_home, quiet_vertex, local_stack, kind
):
    from runner.dataio.sinks import open_sink, read_destination

    unique = uuid.uuid4().hex[:8]
    destination = (
        f"gs://claude-jobs-local/stream-tests/{unique}"
        if kind == "gs"
        else f"bq://{local_stack.project}.claude_jobs.stream_{unique}"
    )
    script = state_home / "script.jsonl"
    script.write_text(
        json.dumps(
            {
                "match": {"contains": "question number 2"},
                "error": {
                    "status": 400,
                    "body": {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}},
                },
            }
        )
        + "\n"
    )
    quiet_vertex.configure(**{**QUIET, "scripted_replies": str(script)})
    target = quiet_vertex.target(local_stack)
    spec = load_spec(write_spec(state_home, rows=12, destination=destination))
    assert run_stream(spec, target, FAST).errored == 1
    quiet_vertex.configure(**QUIET)
    assert run_stream(spec, target, RunOptions(progress=False, retry_failed=True)).errored == 0
    stored = list(read_destination(open_sink(destination, spec, target)))
    assert sorted(r["custom_id"] for r in stored) == [f"r{i:06d}" for i in range(12)]
    assert {r["status"] for r in stored} == {"succeeded"}


def test_the_progress_display_reports_rows_and_rates_on_stderr(state_home, quiet_vertex, capsys):
    run(state_home, quiet_vertex, RunOptions(progress=True), rows=12)
    err = capsys.readouterr().err
    assert "12/12" in err and "req/s" in err and "429s 0" in err


def test_the_state_folder_and_the_ledger_are_private_to_their_owner(state_home, quiet_vertex):
    import os
    import stat

    run(state_home, quiet_vertex, rows=3)
    state = state_home / "state"
    folders = [state, *(p for p in state.rglob("*") if p.is_dir())]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.sqlite" for p in files)
    assert {oct(stat.S_IMODE(os.stat(p).st_mode)) for p in folders} == {oct(0o700)}
    assert {oct(stat.S_IMODE(os.stat(p).st_mode)) for p in files} == {oct(0o600)}
