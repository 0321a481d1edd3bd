"""The concurrent batch job quota: count running Claude jobs in the project, submit as slots free.

Vertex allows a few concurrent Claude batch jobs per project (4 by default);
jobs of other tools and other specs count too. The count is a courtesy that
avoids needless 429s; a 429 on create is still handled as "wait and retry".
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.batch.identity import JobKey
from runner.batch.jobs import BatchJob, JobApi, QuotaExhausted

DEFAULT_CONCURRENT_JOBS = 4
ACTIVE_STATES = ("QUEUED", "PENDING", "RUNNING", "CANCELLING", "UPDATING")


def concurrent_limit() -> int:
    """The project's concurrent Claude batch job quota (`CLAUDE_JOBS_BATCH_CONCURRENCY`)."""
    from runner.errors import UsageError

    raw = os.environ.get("CLAUDE_JOBS_BATCH_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_CONCURRENT_JOBS
    try:
        value = int(raw)
        if value < 1:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"not a positive integer: {raw!r}",
            where="CLAUDE_JOBS_BATCH_CONCURRENCY",
            hint="set it to the project's concurrent batch job quota, e.g. 4",
        ) from None
    return value


def active_claude_jobs(api: JobApi) -> list[BatchJob]:
    """Every unfinished Claude batch job in the project and region, whoever submitted it."""
    only_active = " OR ".join(f'state="JOB_STATE_{state}"' for state in ACTIVE_STATES)
    return [job for job in api.list(only_active) if job.is_claude and not job.terminal]


@dataclass
class SubmitQueue:
    """Keys waiting for a slot, in order; `pump()` submits as many as the quota allows now."""

    api: JobApi
    submit: Callable[[JobKey], BatchJob]  # idempotent: attaches if the job exists
    limit: int = DEFAULT_CONCURRENT_JOBS
    waiting: deque[JobKey] = field(default_factory=deque)
    throttled: int = 0  # 429s seen on create

    def add(self, key: JobKey) -> None:
        self.waiting.append(key)

    def pump(self) -> list[BatchJob]:
        """Submit waiting keys while slots are free; returns the jobs submitted or attached."""
        done: list[BatchJob] = []
        if not self.waiting:
            return done
        free = self.limit - len(active_claude_jobs(self.api))
        while self.waiting and free > 0:
            key = self.waiting[0]
            try:
                job = self.submit(key)
            except QuotaExhausted:
                self.throttled += 1
                break  # the quota is fuller than we counted: wait
            self.waiting.popleft()
            done.append(job)
            if not job.terminal:
                free -= 1
        return done
