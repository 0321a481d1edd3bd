"""`run`, `status`, `results`, `cancel` and `list` for batch specs, through the CLI."""

from __future__ import annotations

import json

import pytest

from runner.cli import invoke

pytestmark = pytest.mark.usefixtures("server")


def cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = invoke(list(argv))
    captured = capsys.readouterr()
    cli.err = captured.err
    return code, captured.out


def test_run_then_status_results_and_list_show_the_finished_job(local_stack, make_spec, capsys):
    spec = make_spec()
    code, out = cli(capsys, "run", str(spec.path), "--no-progress")
    assert code == 0 and ": done" in out, cli.err

    code, out = cli(capsys, "status", str(spec.path))
    assert code == 0 and f"{spec.name}: finished" in out and "SUCCEEDED" in out

    code, out = cli(capsys, "results", str(spec.path), "--limit", "3")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 3 and all(r["status"] == "succeeded" for r in rows)

    code, out = cli(capsys, "results", str(spec.path), "--format", "table")
    assert code == 0 and "custom_id" in out and "succeeded" in out

    code, out = cli(capsys, "list", "--format", "json")
    assert code == 0 and spec.name in {j["labels"]["claude-jobs-spec"] for j in json.loads(out)}


def test_a_run_with_failed_rows_exits_5(local_stack, make_spec, capsys):
    spec = make_spec(labels={"local-fault": "row-failures-50"})
    code, out = cli(capsys, "run", str(spec.path), "--no-progress")
    assert code == 5 and "errored" in out


def test_status_of_one_job_by_id_and_by_resource_name(local_stack, make_spec, capsys):
    spec = make_spec()
    cli(capsys, "run", str(spec.path), "--no-progress", "--no-wait")
    code, out = cli(capsys, "status", str(spec.path), "--format", "json")
    (job,) = json.loads(out)["jobs"]
    for ref in (job["name"], job["name"].rsplit("/", 1)[1]):
        code, out = cli(capsys, "status", ref, "--format", "json")
        assert code == 0 and json.loads(out)["name"] == job["name"]


def test_cancel_stops_the_unfinished_jobs_of_a_spec(local_stack, make_spec, capsys):
    spec = make_spec(labels={"local-fault": "stuck-pending"})
    cli(capsys, "run", str(spec.path), "--no-progress", "--no-wait")
    code, out = cli(capsys, "cancel", str(spec.path))
    assert code == 0 and "cancelling" in out
    code, out = cli(capsys, "status", str(spec.path), "--format", "json")
    assert {j["state"] for j in json.loads(out)["jobs"]} <= {"CANCELLING", "CANCELLED"}
    code, out = cli(capsys, "cancel", str(spec.path))
    assert code == 0 and "nothing to cancel" in out


def test_results_before_any_run_say_to_run_first(local_stack, make_spec, capsys):
    spec = make_spec()
    code, _ = cli(capsys, "results", str(spec.path))
    assert code == 1 and "run it first" in cli.err
