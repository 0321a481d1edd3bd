"""The waiter's own logic, on a scripted job API and a fake clock (no time passes)."""

from __future__ import annotations

import dataclasses

import pytest

from runner.batch.jobs import BatchJob
from runner.batch.poll import Waiter
from runner.errors import RemoteError

JOB = BatchJob(
    name="projects/p/locations/us-east5/batchPredictionJobs/1",
    display_name="j",
    model="publishers/anthropic/models/m",
    state="QUEUED",
)


class ScriptedJobs:
    """`get` answers from a script: a state name, or an exception to raise."""

    def __init__(self, *script):
        self.script = list(script)

    def get(self, name):
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return dataclasses.replace(JOB, state=step)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def waiter(api, clock, **kw):
    options = dict(poll_interval=10, pending_timeout=3600, wait_timeout=86400)
    return Waiter(api, clock=clock, sleep=clock.sleep, **{**options, **kw})


def test_transient_failures_while_polling_are_waited_through():
    clock = Clock()
    api = ScriptedJobs("RUNNING", RemoteError("503", status=503), RemoteError("reset"), "SUCCEEDED")
    result = waiter(api, clock).wait([JOB])
    assert result.finished and result.jobs[JOB.name].state == "SUCCEEDED"


def test_an_outage_of_many_failed_polls_is_waited_through_with_backoff():
    clock = Clock()
    down = [RemoteError("connection refused")] * 12 + [RemoteError("429", status=429)] * 3
    api = ScriptedJobs("RUNNING", *down, "SUCCEEDED")
    sleeps = []
    w = waiter(api, clock, poll_interval=0.01)
    w.sleep = lambda seconds: sleeps.append(seconds) or clock.sleep(seconds)
    result = w.wait([JOB])
    assert result.finished and result.jobs[JOB.name].state == "SUCCEEDED"
    retries = sleeps[1:16]
    assert retries[:7] == pytest.approx([1, 2, 4, 8, 16, 32, 60], abs=0.02)
    assert max(retries) == pytest.approx(60, abs=0.02)


def test_polling_gives_up_once_an_outage_lasts_the_outage_timeout():
    clock = Clock()
    api = ScriptedJobs("RUNNING", RemoteError("connection refused"))
    with pytest.raises(RemoteError, match=r"connection refused \(polls failed for 10 min\)") as raised:
        waiter(api, clock, outage_timeout=600).wait([JOB])
    assert "batch.outage_timeout" in raised.value.hint
    assert 600 <= clock.now <= 700


def test_a_non_transient_failure_while_polling_is_raised():
    api = ScriptedJobs("RUNNING", RemoteError("denied", status=403))
    with pytest.raises(RemoteError, match="denied"):
        waiter(api, Clock()).wait([JOB])


def test_a_job_waiting_longer_than_the_pending_timeout_is_stuck():
    clock = Clock()
    result = waiter(ScriptedJobs("PENDING"), clock, pending_timeout=60).wait([JOB])
    ((job, waited),) = result.stuck
    assert job.state == "PENDING" and 60 < waited < 200 and not result.timed_out


def test_the_wait_gives_up_after_the_wait_timeout():
    clock = Clock()
    result = waiter(ScriptedJobs("RUNNING"), clock, wait_timeout=600).wait([JOB])
    assert result.timed_out and not result.finished and 600 <= clock.now < 700


def test_paused_counts_as_final():
    assert waiter(ScriptedJobs("PAUSED"), Clock()).wait([JOB]).finished
