"""Run one validated spec on a target: the seam between the CLI and the two executors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .clients import Target
from .spec.model import JobSpec


@dataclass(frozen=True)
class RunOptions:
    retry_failed: bool = False          # also re-send rows that errored last time
    restart: bool = False               # the spec changed: discard the old state and start over
    cancel_on_interrupt: bool = False   # batch: Ctrl-C cancels the job instead of leaving it running
    wait: bool = True                   # batch: wait for a terminal state and collect results
    progress: bool = True               # live progress display on stderr


@dataclass
class RunSummary:
    """What a run did; printed as text or JSON and mapped to the exit code."""

    spec: str
    mode: str
    target: str
    total: int = 0
    succeeded: int = 0
    errored: int = 0
    skipped: int = 0                    # already finished in an earlier run
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    destination: str = ""
    jobs: list[str] = field(default_factory=list)   # batch job resource names
    state: str = "done"                 # done | submitted | running | failed | ...
    elapsed_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errored == 0 and self.state in ("done", "submitted", "running")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute(spec: JobSpec, target: Target, options: RunOptions) -> RunSummary:
    """Dispatch on the spec's mode; each executor owns its own state and idempotency."""
    if spec.mode == "stream":
        from .stream import run_stream

        return run_stream(spec, target, options)
    from .batch import run_batch

    return run_batch(spec, target, options)
