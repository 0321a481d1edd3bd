"""What a batch run tells its user: counts, tokens, cost, job outcomes, and what to do next."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from runner.batch.collect import JoinStats
from runner.batch.jobs import BatchJob
from runner.records import ResultRow, RunSummary

EXAMPLES = 5


class Report:
    def __init__(self, spec, rev: str):
        self.spec = spec
        self.rev = rev
        self.errors: Counter[str] = Counter()
        self.examples: list[dict] = []

    def plan_line(self, jobs: list[BatchJob], queue) -> str:
        attached = ", ".join(f"{j.display_name} ({j.state})" for j in jobs)
        parts = []
        if attached:
            parts.append(f"attaching to {attached}")
        if queue.waiting:
            parts.append(f"submitting {len(queue.waiting)} job(s)")
        return f"Batch {self.spec.name} rev {self.rev}: " + "; ".join(parts)

    def tally(self, summary: RunSummary, rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
        """Pass rows through while counting them into `summary`."""
        from runner.spec.catalog import catalog

        info = catalog().get(self.spec.model)
        cache_write = cache_read = 0
        for row in rows:
            summary.total += 1
            if row.succeeded:
                summary.succeeded += 1
                usage = row.usage
                summary.input_tokens += usage.get("input_tokens", 0)
                summary.output_tokens += usage.get("output_tokens", 0)
                cache_write += usage.get("cache_creation_input_tokens", 0)
                cache_read += usage.get("cache_read_input_tokens", 0)
            else:
                summary.errored += 1
                error = row.error or {}
                self.errors[str(error.get("code") or error.get("type") or "error")] += 1
                if len(self.examples) < EXAMPLES:
                    self.examples.append({"custom_id": row.custom_id, **error})
            yield row
        if info is not None:
            summary.cost_usd = round(
                info.cost_usd(
                    summary.input_tokens,
                    summary.output_tokens,
                    cache_write_tokens=cache_write,
                    cache_read_tokens=cache_read,
                    batch=True,
                ),
                6,
            )

    def finished(self, summary: RunSummary, jobs: list[BatchJob], stats: JoinStats) -> None:
        # A job that ended badly no longer matters once retries delivered every one of its rows.
        unsuccessful = [job for job in jobs if not job.succeeded] if summary.errored else []
        summary.state = "failed" if unsuccessful else "done"
        summary.details.update(
            job_states={job.display_name: job.state for job in jobs},
            errors=dict(self.errors),
            error_examples=self.examples,
            missing=stats.missing,
            unknown_ids=stats.unknown,
            unknown_examples=stats.unknown_examples,
        )
        lines = []
        for job in unsuccessful:
            why = f": {job.error}" if job.error else ""
            lines.append(f"job {job.display_name} ({job.id}) ended {job.state}{why}")
        if summary.errored:
            kinds = ", ".join(f"{kind} x{n}" for kind, n in self.errors.most_common())
            lines.append(
                f"{summary.errored} of {summary.total} rows errored ({kinds}); "
                f"{stats.missing} had no output line"
            )
            for example in self.examples:
                lines.append(f"  {example['custom_id']}: {example.get('message', '')[:200]}")
            lines.append(
                f"re-run with `claude-jobs run {self.spec.path} --retry-failed` to "
                "submit only the errored and missing rows"
            )
        if stats.unknown:
            lines.append(
                f"{stats.unknown} output line(s) had a custom_id that was never "
                f"submitted (ignored), e.g. {', '.join(stats.unknown_examples)}"
            )
        summary.details["report"] = lines

    def unfinished(self, summary: RunSummary, result) -> None:
        lines = []
        for job, waited in result.stuck:
            lines.append(
                f"job {job.display_name} ({job.id}) has been {job.state} for "
                f"{_duration(waited)}, longer than batch.pending_timeout "
                f"({_duration(self.spec.batch.pending_timeout)}); it was left as is"
            )
        if result.stuck:
            lines.append(
                "Vertex may be short of capacity or the project of batch quota: cancel "
                f"with `claude-jobs cancel {self.spec.path}`, or re-run later to keep "
                "waiting (nothing is submitted twice)"
            )
        if result.timed_out:
            lines.append(
                f"gave up after batch.wait_timeout "
                f"({_duration(self.spec.batch.wait_timeout)}); the jobs keep running: "
                f"re-run `claude-jobs run {self.spec.path}` to collect them"
            )
        summary.details.update(
            report=lines,
            job_states={job.display_name: job.state for job in result.jobs.values()},
            stuck=[
                {"job": job.name, "state": job.state, "waited_s": round(waited, 1)}
                for job, waited in result.stuck
            ],
        )

    def detached(self, summary: RunSummary, jobs: list[BatchJob]) -> None:
        summary.details.update(
            job_states={job.display_name: job.state for job in jobs},
            report=[
                f"not waiting: follow with `claude-jobs status {self.spec.path}`; "
                f"`claude-jobs run {self.spec.path}` again collects the results when done"
            ],
        )


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds:.0f}s"
