"""The concurrent-jobs quota: jobs wait for a free slot, and a 429 on create means wait and retry.

The local server counts a project's jobs against its quota, so each test here runs in a project of
its own: a job another test left running or cancelling on this worker's stack never takes a slot.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from batch_harness import jobs_of, run

from runner.batch import cancel
from runner.batch.jobs import JobApi, QuotaExhausted


@pytest.fixture
def stack(local_stack):
    """The session's local stack, in a project no other test uses."""
    return dataclasses.replace(local_stack, project=f"quota-tests-{uuid.uuid4().hex[:8]}")


def overlapping_at_creation(jobs) -> list[int]:
    """For each job, how many other jobs were still unfinished when it was created."""
    return [
        sum(
            1
            for other in jobs
            if other is not job
            and other.create_time < job.create_time
            and (other.end_time is None or other.end_time > job.create_time)
        )
        for job in jobs
    ]


def test_parts_beyond_the_quota_wait_for_a_free_slot(stack, make_spec, server, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_BATCH_CONCURRENCY", "2")
    server.batch(max_concurrent_jobs=2)
    spec = make_spec(batch={"max_requests_per_job": 5})
    summary = run(spec, stack)
    assert summary.state == "done" and len(summary.jobs) == 4
    assert max(overlapping_at_creation(jobs_of(spec, stack))) <= 1


def someone_elses_stuck_job(api):
    return api.create(
        {
            "display_name": "someone-elses-job",
            "model": "publishers/anthropic/models/claude-haiku-4-5@20251001",
            "labels": {"local-fault": "stuck-pending"},
            "input_config": {
                "instances_format": "jsonl",
                "gcs_source": {"uris": ["gs://claude-jobs-local/examples/tickets.jsonl"]},
            },
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": "gs://claude-jobs-local/x"},
            },
        }
    )


def wait_until_started(api, job):
    for _ in range(200):
        if api.get(job.name).state != "QUEUED":
            return
        time.sleep(0.05)
    raise AssertionError(f"{job.name} never left QUEUED")


def test_jobs_of_other_tools_take_slots_too(stack, make_spec, server, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_BATCH_CONCURRENCY", "2")
    server.batch(max_concurrent_jobs=2)
    api = JobApi.for_target(stack, "us-east5")
    other = someone_elses_stuck_job(api)
    try:
        spec = make_spec(batch={"max_requests_per_job": 10})
        summary = run(spec, stack)
        assert summary.state == "done"
        assert max(overlapping_at_creation(jobs_of(spec, stack))) == 0
    finally:
        api.cancel(other.name)


def test_a_429_on_create_is_waited_out_and_retried(stack, make_spec, server, monkeypatch):
    # Vertex allows one job; our count believes in four, so the first create meets a 429.
    server.batch(max_concurrent_jobs=1, quota_mode="reject")
    api = JobApi.for_target(stack, "us-east5")
    other = someone_elses_stuck_job(api)
    wait_until_started(api, other)
    create = JobApi.create

    def create_then_free_the_slot(self, body):
        try:
            return create(self, body)
        except QuotaExhausted:
            api.cancel(other.name)  # the other job ends; the slot frees up
            raise

    monkeypatch.setattr(JobApi, "create", create_then_free_the_slot)
    try:
        spec = make_spec(batch={"max_requests_per_job": 10})
        summary = run(spec, stack)
        assert summary.state == "done" and len(summary.jobs) == 2
        assert summary.details["throttled"] >= 1
    finally:
        api.cancel(other.name)


def test_ctrl_c_leaves_the_job_running_and_says_how_to_reattach(stack, make_spec, server, monkeypatch):
    from runner.batch import wait_display as progress
    from runner.errors import Interrupted

    def interrupt(self, result, queue):
        raise KeyboardInterrupt

    monkeypatch.setattr(progress.Progress, "update", interrupt)
    spec = make_spec(labels={"local-fault": "stuck-pending"})
    try:
        with pytest.raises(Interrupted) as caught:
            run(spec, stack)
        assert f"claude-jobs run {spec.path}" in caught.value.hint
        assert f"claude-jobs status {spec.path}" in caught.value.hint
        (job,) = jobs_of(spec, stack)
        assert not job.terminal and job.state != "CANCELLING"
    finally:
        cancel(stack, spec=spec)


def test_ctrl_c_with_cancel_on_interrupt_cancels_the_job(stack, make_spec, server, monkeypatch):
    from runner.batch import wait_display as progress
    from runner.errors import Interrupted

    monkeypatch.setattr(
        progress.Progress, "update", lambda self, result, queue: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    spec = make_spec(labels={"local-fault": "stuck-pending"})
    with pytest.raises(Interrupted, match="cancelled 1"):
        run(spec, stack, cancel_on_interrupt=True)
    (job,) = jobs_of(spec, stack)
    assert job.state in ("CANCELLING", "CANCELLED")
