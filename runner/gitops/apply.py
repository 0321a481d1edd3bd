"""Run exactly the specs plan marks new, changed or incomplete, one by one, and nothing else."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.clients import Target
from runner.errors import EXIT_JOB_FAILED, EXIT_OK, ClaudeJobsError, translate
from runner.execute import execute
from runner.gitops.plan import PlanOptions, SpecPlan, plan_spec
from runner.records import RunOptions, RunSummary
from runner.spec.model import JobSpec


@dataclass
class Applied:
    """What apply did with one spec: skipped it, ran it (summary), or failed to (error)."""

    plan: SpecPlan
    summary: RunSummary | None = None
    error: ClaudeJobsError | None = None

    @property
    def ran(self) -> bool:
        """A run was started (and maybe failed); False for skipped specs and unreadable state."""
        return self.plan.will_run

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        if self.summary is not None and not self.summary.ok:
            return EXIT_JOB_FAILED
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.plan.name,
            "path": self.plan.path,
            "state": self.plan.state,
            "action": "run" if self.ran else ("error" if self.error else "skip"),
            "revision": self.plan.revision,
            "summary": self.summary.to_dict() if self.summary else None,
            "error": str(self.error) if self.error else None,
            "exit_code": self.exit_code,
        }


@dataclass
class ApplyResult:
    applied: list[Applied] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The first failure's code, so a pipeline sees why; 0 when every run succeeded."""
        return next((a.exit_code for a in self.applied if a.exit_code), EXIT_OK)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": sum(a.ran for a in self.applied),
            "exit_code": self.exit_code,
            "specs": [a.to_dict() for a in self.applied],
        }


def apply(
    specs: list[JobSpec],
    target: Target,
    run_options: RunOptions,
    *,
    region: str | None = None,
    on_start: Callable[[SpecPlan], None] | None = None,
    on_done: Callable[[Applied], None] | None = None,
) -> ApplyResult:
    """For each spec in turn: read its state (no token counting), run it if it needs a run.

    A failure in one spec (reading its state or running it) is recorded and the
    others still run.
    """
    options = PlanOptions(count_tokens=False, region=region, state=run_options.state)
    result = ApplyResult()
    for spec in specs:
        applied = _apply_one(spec, target, run_options, options, on_start)
        result.applied.append(applied)
        if on_done:
            on_done(applied)
    return result


def _apply_one(
    spec: JobSpec,
    target: Target,
    run_options: RunOptions,
    options: PlanOptions,
    on_start: Callable[[SpecPlan], None] | None,
) -> Applied:
    try:
        line = asyncio.run(plan_spec(spec, target, options))
    except Exception as exc:
        unread = SpecPlan(
            name=spec.name,
            path=str(spec.path),
            mode=spec.mode,
            model=spec.model,
            region=options.region or spec.region,
            destination=spec.destination,
        )
        error = _known(exc)
        if error is None:
            raise
        return Applied(plan=unread, error=error)
    applied = Applied(plan=line)
    if not line.will_run:
        return applied
    if on_start:
        on_start(line)
    # changed: the new revision starts over; incomplete: resume from the ledger.
    run = dataclasses.replace(run_options, restart=line.state == "changed", implicit_restart=True)
    try:
        applied.summary = execute(spec, dataclasses.replace(target, region=line.region), run)
    except Exception as exc:
        applied.error = _known(exc)
        if applied.error is None:
            raise
    return applied


def _known(exc: Exception) -> ClaudeJobsError | None:
    """The user-facing error `exc` means (library and OS errors translated), None for a bug.

    Only bugs may abort the other specs; a spec's own bad input or remote failure is recorded.
    """
    return exc if isinstance(exc, ClaudeJobsError) else translate(exc)
