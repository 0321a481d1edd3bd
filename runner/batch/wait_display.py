"""The live progress display on stderr: one line per job, plus the quota queue."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runner.batch.identity import JobKey
from runner.batch.poll import WaitResult
from runner.batch.submit_queue import SubmitQueue

if TYPE_CHECKING:
    from rich.live import Live

STATE_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "EXPIRED": "red",
    "CANCELLED": "yellow",
    "PARTIALLY_SUCCEEDED": "yellow",
    "PAUSED": "yellow",
    "RUNNING": "cyan",
}


def job_table(jobs, title: str | None = None, *, compact: bool = False):
    """A rich Table of jobs: spec, revision, part, state, rows done of total, failed, id.

    `compact` drops spec and revision (the same for every job of one run).
    """
    from rich.table import Table

    from runner.batch.identity import REV_LABEL, SPEC_LABEL
    from runner.batch.submit import ROWS_LABEL

    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    columns = ("spec", "revision", "part", "state", "rows done", "failed", "job id")
    for column in columns[2:] if compact else columns:
        table.add_column(
            column, no_wrap=True, justify="right" if column in ("rows done", "failed") else "left"
        )
    for job in sorted(
        jobs, key=lambda j: (j.labels.get(SPEC_LABEL, ""), JobKey.from_labels(j.labels) or JobKey(0, 0, 0))
    ):
        key = JobKey.from_labels(job.labels)
        part = (
            ""
            if key is None
            else f"{key.part + 1}/{key.parts}" + (f" retry {key.retry}" if key.retry else "")
        )
        style = STATE_STYLE.get(job.state, "")
        cells = [
            job.labels.get(SPEC_LABEL, job.display_name),
            job.labels.get(REV_LABEL, ""),
            part,
            f"[{style}]{job.state}[/]" if style else job.state,
            f"{job.successful + job.failed}/{job.labels.get(ROWS_LABEL, '?')}",
            str(job.failed),
            job.id,
        ]
        table.add_row(*(cells[2:] if compact else cells))
    return table


class Progress:
    """Redraws the job table on every poll; a no-op when progress is off."""

    def __init__(self, enabled: bool, console=None):
        self.enabled = enabled
        self.console = console
        self.live: Live | None = None
        self.started = time.monotonic()
        self.states: dict[str, str] = {}

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self.console = self.console or Console(stderr=True, highlight=False)
            if self.console.is_terminal:
                self.live = Live(console=self.console, refresh_per_second=4, transient=False)
                self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def update(self, result: WaitResult, queue: SubmitQueue | None) -> None:
        if not self.enabled:
            return
        if self.live is None:
            self._log_changes(result)  # CI logs: one line per state change, no redraws
            return
        from rich.console import Group
        from rich.text import Text

        parts = [job_table(result.jobs.values(), compact=True)]
        if queue is not None and queue.waiting:
            parts.append(
                Text(
                    f"{len(queue.waiting)} job(s) queued: waiting for a free batch job "
                    f"slot (quota {queue.limit} concurrent Claude batch jobs)",
                    style="yellow",
                )
            )
        parts.append(
            Text(
                f"waiting {time.monotonic() - self.started:.0f}s; Ctrl-C leaves the jobs running", style="dim"
            )
        )
        self.live.update(Group(*parts))

    def _log_changes(self, result: WaitResult) -> None:
        from runner.batch.submit import ROWS_LABEL

        for job in result.jobs.values():
            if self.states.get(job.name) != job.state:
                self.states[job.name] = job.state
                self.say(
                    f"{job.display_name}: {job.state} ({job.successful + job.failed}/"
                    f"{job.labels.get(ROWS_LABEL, '?')} rows, {job.failed} failed) "
                    f"after {time.monotonic() - self.started:.0f}s"
                )

    def say(self, text: str, style: str | None = None) -> None:
        """A line on stderr, above the live display."""
        if not self.enabled:
            return
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)
        self.console.print(text, style=style, highlight=False, soft_wrap=True)
