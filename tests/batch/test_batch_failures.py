"""Failed rows and unsuccessful jobs end with a report, exit 5, and `--retry-failed` fixes them."""

from __future__ import annotations

import pytest
from batch_harness import destination_rows, jobs_of, run

from runner.batch.collect import JoinStats


def test_rows_that_fail_are_reported_with_their_code_and_the_run_is_not_ok(
    local_stack, make_spec, server, source_ids
):
    spec = make_spec(labels={"local-fault": "row-failures-40"})
    summary = run(spec, local_stack)
    assert not summary.ok and 0 < summary.errored < summary.total == len(source_ids)
    assert set(summary.details["errors"]) == {"400"}
    assert any("--retry-failed" in line for line in summary.details["report"])
    rows = destination_rows(spec, local_stack)
    assert sorted(r["custom_id"] for r in rows) == source_ids
    errored = [r for r in rows if r["status"] == "errored"]
    assert len(errored) == summary.errored and all(r["error"]["code"] == 400 for r in errored)


@pytest.mark.parametrize(
    "fault, state",
    [("failed", "FAILED"), ("expired", "EXPIRED"), ("partially-succeeded", "PARTIALLY_SUCCEEDED")],
)
def test_a_job_that_ends_unsuccessfully_fails_the_run_and_keeps_what_it_wrote(
    local_stack, make_spec, server, source_ids, fault, state
):
    spec = make_spec(labels={"local-fault": fault})
    summary = run(spec, local_stack)
    assert (summary.state, summary.ok) == ("failed", False)
    assert list(summary.details["job_states"].values()) == [state]
    assert summary.total == len(source_ids)  # every input row has exactly one result
    assert summary.succeeded + summary.errored == summary.total
    assert any(state in line for line in summary.details["report"])
    if state == "FAILED":
        assert summary.succeeded == 0 and summary.details["missing"] == summary.total


def test_a_job_stuck_pending_past_the_pending_timeout_is_reported_and_left_alone(
    local_stack, make_spec, server, capsys
):
    from runner.batch import cancel

    spec = make_spec(labels={"local-fault": "stuck-pending"}, batch={"pending_timeout": 1})
    try:
        summary = run(spec, local_stack)
        assert (summary.state, summary.ok) == ("stuck", False)
        (stuck,) = summary.details["stuck"]
        assert stuck["state"] in ("QUEUED", "PENDING") and stuck["waited_s"] >= 1
        assert any("pending_timeout" in line for line in summary.details["report"])
        assert summary.destination == ""  # nothing was collected: no results file to name
        from runner.cli._common import emit_summary

        emit_summary(summary, "text")
        printed = capsys.readouterr().out
        assert "rows: none collected yet" in printed and "0 total" not in printed
        assert "results:" not in printed
        (job,) = jobs_of(spec, local_stack)
        assert not job.terminal  # left for the user to cancel or wait on
    finally:
        cancel(local_stack, spec=spec)  # it would hold a quota slot for later tests


def test_retry_failed_submits_exactly_the_failed_rows_and_merges_them(
    local_stack, make_spec, server, source_ids
):
    spec = make_spec()
    server.batch(row_failure_rate=0.4)
    first = run(spec, local_stack)
    failed = {r["custom_id"] for r in destination_rows(spec, local_stack) if r["status"] == "errored"}
    assert failed and first.errored == len(failed)

    server.batch(row_failure_rate=0.0)
    plain_rerun = run(spec, local_stack)
    assert plain_rerun.details["created"] == []  # without the flag nothing is re-sent

    retried = run(spec, local_stack, retry_failed=True)
    assert (retried.state, retried.ok, retried.errored) == ("done", True, 0)
    (retry_job,) = [j for j in jobs_of(spec, local_stack) if "claude-jobs-retry" in j.labels]
    assert retry_job.labels["claude-jobs-retry"] == "1"
    from runner.batch.readback import JobFiles

    resent = {cid.decode() for cid in JobFiles(local_stack).input_ids(retry_job)}
    assert resent == failed
    rows = destination_rows(spec, local_stack)
    assert sorted(r["custom_id"] for r in rows) == source_ids
    assert all(r["status"] == "succeeded" for r in rows)

    again = run(spec, local_stack, retry_failed=True)
    assert again.details["created"] == [] and again.ok


def test_results_are_the_merged_rows_of_every_round(local_stack, make_spec, server):
    from runner.batch import iter_results

    spec = make_spec()
    server.batch(row_failure_rate=0.5)
    run(spec, local_stack)
    server.batch(row_failure_rate=0.0)
    run(spec, local_stack, retry_failed=True)
    stats = JoinStats()
    rows = list(iter_results(spec, local_stack, stats))
    assert all(r.succeeded for r in rows) and stats.missing == 0
    assert len({r.custom_id for r in rows}) == len(rows)


def test_a_failed_job_whose_rows_all_succeed_on_retry_ends_done(local_stack, make_spec, server):
    spec = make_spec()
    server.batch(fault="failed")
    assert run(spec, local_stack).state == "failed"
    server.batch(fault="")
    retried = run(spec, local_stack, retry_failed=True)
    assert (retried.state, retried.ok, retried.errored) == ("done", True, 0)
    assert retried.details["job_states"] and "FAILED" in retried.details["job_states"].values()
