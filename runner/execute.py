"""Run one validated spec on a target: the seam between the CLI and the two executors."""

from __future__ import annotations

from runner.clients import Target
from runner.records import RunOptions, RunSummary
from runner.spec.model import JobSpec


def execute(spec: JobSpec, target: Target, options: RunOptions) -> RunSummary:
    """Dispatch on the spec's mode; each executor owns its own state and idempotency."""
    if spec.mode == "stream":
        from runner.stream import run_stream

        return run_stream(spec, target, options)
    from runner.batch import run_batch

    return run_batch(spec, target, options)
