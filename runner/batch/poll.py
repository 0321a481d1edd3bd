"""Wait for batch jobs: poll with backoff, feed the quota queue, give up on stuck jobs.

The waiter owns no policy beyond time: it returns what it saw (every job's last
state, which jobs were stuck waiting to start, whether the overall wait ran
out) and the caller decides what that means for the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from runner.batch.jobs import BatchJob, JobApi, transient
from runner.batch.submit_queue import SubmitQueue
from runner.errors import RemoteError

BACKOFF = 1.5
FIRST_INTERVAL = 1.0
MAX_INTERVAL = 300.0
# After a failed poll (no answer, 429, 5xx) the next one waits 1 s, doubling up to a minute,
# until the failures have lasted `outage_timeout` (batch.outage_timeout).
FIRST_RETRY = 1.0
MAX_RETRY = 60.0


def first_interval(base: float) -> float:
    """The first wait: short, so a quick job is noticed quickly."""
    return min(FIRST_INTERVAL, base)


def next_interval(current: float, base: float) -> float:
    """Back off by 1.5x up to 4x `poll_interval` (at most 5 minutes, never below it)."""
    ceiling = max(base, min(base * 4, MAX_INTERVAL))
    return min(current * BACKOFF, ceiling)


@dataclass
class WaitResult:
    jobs: dict[str, BatchJob] = field(default_factory=dict)  # name -> last seen
    stuck: list[tuple[BatchJob, float]] = field(default_factory=list)  # (job, seconds waiting)
    timed_out: bool = False

    @property
    def finished(self) -> bool:
        return all(job.terminal for job in self.jobs.values())


class Waiter:
    """Poll `jobs` (and submit from `queue`) until all are terminal, stuck, or out of time."""

    def __init__(
        self,
        api: JobApi,
        *,
        poll_interval: float,
        pending_timeout: float,
        wait_timeout: float,
        outage_timeout: float = 1_800.0,
        on_update: Callable[[WaitResult, SubmitQueue | None], None] = lambda result, queue: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.api = api
        self.poll_interval = max(0.01, poll_interval)
        self.pending_timeout = pending_timeout
        self.wait_timeout = wait_timeout
        self.outage_timeout = outage_timeout
        self.on_update = on_update
        self.clock = clock
        self.sleep = sleep
        self.now = now

    def wait(
        self, jobs: list[BatchJob], queue: SubmitQueue | None = None, *, until_submitted: bool = False
    ) -> WaitResult:
        """Poll until every job is terminal (or, `until_submitted`, until the queue is empty)."""
        result = WaitResult(jobs={job.name: job for job in jobs})
        started = self.clock()
        waiting_since: dict[str, float] = {}
        interval = first_interval(self.poll_interval)
        failures = 0
        failing_since = 0.0
        while True:
            changed = False
            try:
                if queue is not None:
                    for job in queue.pump():
                        result.jobs[job.name] = job
                for name, job in list(result.jobs.items()):
                    if not job.terminal:
                        fresh = self.api.get(name)
                        changed |= fresh.state != job.state
                        result.jobs[name] = fresh
                failures = 0
            except RemoteError as exc:
                # A 24-48 h wait must not die of a dropped connection, a 429 or a 503: keep
                # polling, backing off, for as long as the outage is within the bound.
                if not transient(exc):
                    raise
                if not failures:
                    failing_since = self.clock()
                failures += 1
                if self.clock() - failing_since >= self.outage_timeout:
                    raise RemoteError(
                        f"{exc.message} (polls failed for {_minutes(self.clock() - failing_since)})",
                        status=exc.status,
                        where=exc.where,
                        hint="the jobs keep running: re-run the same command to re-attach; "
                        "batch.outage_timeout sets how long polling retries",
                    ) from exc
            self.on_update(result, queue)
            queued = bool(queue and queue.waiting)
            if not failures and not queued and (until_submitted or result.finished):
                return result
            now = self.clock()
            elapsed = now - started
            for job in result.jobs.values():
                if job.waiting:
                    waiting_since.setdefault(job.name, now - self._age(job))
                else:
                    waiting_since.pop(job.name, None)
            result.stuck = [
                (job, now - waiting_since[job.name])
                for job in result.jobs.values()
                if job.waiting and now - waiting_since[job.name] > self.pending_timeout
            ]
            if result.stuck:
                return result
            if elapsed > self.wait_timeout:
                result.timed_out = True
                return result
            if failures:
                retry = min(FIRST_RETRY * 2 ** (failures - 1), MAX_RETRY)
                self.sleep(min(retry, max(0.0, self.outage_timeout - (now - failing_since)) + 0.01))
                continue
            self.sleep(min(interval, max(0.0, self.wait_timeout - elapsed) + 0.01))
            interval = (
                first_interval(self.poll_interval) if changed else next_interval(interval, self.poll_interval)
            )

    def _age(self, job: BatchJob) -> float:
        """How long a job we just met has already waited, by its create time (0 if unknown)."""
        if job.create_time is None:
            return 0.0
        return max(0.0, (self.now() - job.create_time).total_seconds())


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
