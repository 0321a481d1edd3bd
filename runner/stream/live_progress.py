"""Counters of a stream run and their live display on stderr (rows, req/s, tokens/s, 429s, ETA)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RunStats:
    """What this run did; the display reads it, the summary is built from it."""

    to_send: int = 0
    done: int = 0
    succeeded: int = 0
    errored: int = 0
    attempts: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # kind -> count (429s are rate_limited)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    first_sent: float | None = None  # the sending window, for rates against the quota
    last_done: float | None = None

    def record_row(self, row) -> None:
        self.last_done = time.monotonic()
        self.done += 1
        if row.succeeded:
            self.succeeded += 1
        else:
            self.errored += 1
        usage = row.usage or {}
        self.input_tokens += usage.get("input_tokens", 0)
        self.output_tokens += usage.get("output_tokens", 0)
        self.cache_write_tokens += usage.get("cache_creation_input_tokens", 0)
        self.cache_read_tokens += usage.get("cache_read_input_tokens", 0)

    def record_failure(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def per_minute(self) -> dict[str, float]:
        """Attempts and tokens per minute over the sending window (what the quota saw)."""
        if self.first_sent is None or self.last_done is None or self.last_done <= self.first_sent:
            return {}
        minutes = (self.last_done - self.first_sent) / 60.0
        return {
            "requests_per_minute": round(self.attempts / minutes, 1),
            "input_tokens_per_minute": round(
                (self.input_tokens + self.cache_write_tokens + self.cache_read_tokens) / minutes, 1
            ),
            "output_tokens_per_minute": round(self.output_tokens / minutes, 1),
        }

    @property
    def elapsed(self) -> float:
        return max(1e-9, time.monotonic() - self.started)


class LiveProgress:
    """A rich bar on stderr, refreshed from RunStats by rich's own thread; a no-op when disabled."""

    def __init__(self, stats: RunStats, title: str, enabled: bool):
        self.stats = stats
        self._progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            console=Console(stderr=True),
            transient=False,
            refresh_per_second=4,
        )
        self._task = self._progress.add_task(title, total=stats.to_send or None, rates="")

    def __enter__(self) -> LiveProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self.update()
            self._progress.stop()

    def update(self) -> None:
        if self._progress is None:
            return
        s = self.stats
        rate = s.done / s.elapsed
        tokens = (s.input_tokens + s.output_tokens) / s.elapsed
        left = s.to_send - s.done
        eta = f"{left / rate:,.0f}s" if rate > 0 and left > 0 else "-"
        self._progress.update(
            self._task,
            completed=s.done,
            total=s.to_send or None,
            rates=(
                f"{rate:,.1f} req/s  {tokens:,.0f} tok/s  429s {s.failures.get('rate_limited', 0)}  "
                f"errors {s.errored}  ETA {eta}"
            ),
        )
