"""The jobs of one spec revision, by retry round and part, and their merged results."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.batch.collect import JoinStats, join_results
from runner.batch.identity import JobKey
from runner.batch.jobs import BatchJob
from runner.batch.readback import JobFiles
from runner.batch.submit import ROWS_LABEL
from runner.records import ResultRow


@dataclass
class Rounds:
    """Round 0 is the first submission, round N the N-th `--retry-failed`; newest job per key."""

    jobs: dict[JobKey, BatchJob] = field(default_factory=dict)

    @classmethod
    def of(cls, jobs) -> Rounds:
        rounds = cls()
        for job in jobs:
            rounds.add(job)
        return rounds

    def add(self, job: BatchJob) -> None:
        key = JobKey.from_labels(job.labels)
        if key is None:
            return
        old = self.jobs.get(key)
        if old is None or old.name == job.name or _newer(job, old):
            self.jobs[key] = job

    def round(self, n: int) -> dict[int, BatchJob]:
        return {key.part: job for key, job in self.jobs.items() if key.retry == n}

    @property
    def latest(self) -> int:
        return max((key.retry for key in self.jobs), default=0)

    def all(self) -> list[BatchJob]:
        return [self.jobs[key] for key in sorted(self.jobs)]


def _newer(job: BatchJob, old: BatchJob) -> bool:
    if job.create_time is None or old.create_time is None:
        return False
    return job.create_time > old.create_time


def merged_results(
    files: JobFiles, rounds: Rounds, stats: JoinStats, shape=None, *, join_kept: bool = True
) -> Iterator[ResultRow]:
    """One row per custom_id of round 0's inputs; the newest round's attempt wins.

    With a `ResultShape`, every row's answer is read (typed and checked, or its text) as it
    is joined, so a bad answer is an errored row that `--retry-failed` re-sends.
    """
    first = rounds.round(0)
    newest_first = sorted({key.retry for key in rounds.jobs}, reverse=True)
    outputs = (
        (pair for job in rounds.round(n).values() for pair in files.outputs(job)) for n in newest_first
    )

    def expected():
        return (cid for part in sorted(first) for cid in files.input_ids(first[part]))

    def kept():
        # Round 0 staged every row's kept values; retry rounds re-send the same rows.
        return (pair for part in sorted(first) for pair in files.kept(first[part]))

    estimate = sum(int(job.labels.get(ROWS_LABEL, 0) or 0) for job in first.values())
    keep = bool(shape is not None and shape.keep and join_kept)
    return join_results(
        outputs,
        expected,
        estimate=estimate,
        stats=stats,
        missing_why="no output line for this custom_id (the job stopped before it, or dropped it)",
        finish=shape.finish if shape is not None else None,
        kept=kept if keep else None,
        kept_names_every_id=keep and all(files.kept_names_every_id(job) for job in first.values()),
    )
