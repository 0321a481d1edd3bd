"""Run exactly the specs a plan marks new or changed, one after the other, and nothing else."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clients import Target
from .errors import EXIT_JOB_FAILED, EXIT_OK, ClaudeJobsError
from .execute import RunOptions, RunSummary, execute
from .plan import PlanOptions, SpecPlan, plan_specs
from .spec.model import JobSpec


@dataclass
class Applied:
    """What apply did with one spec: skipped it, ran it (summary), or failed to (error)."""

    plan: SpecPlan
    summary: RunSummary | None = None
    error: ClaudeJobsError | None = None

    @property
    def ran(self) -> bool:
        return self.summary is not None or self.error is not None

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
            "action": "run" if self.ran else "skip",
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
        return {"ran": sum(a.ran for a in self.applied), "exit_code": self.exit_code,
                "specs": [a.to_dict() for a in self.applied]}


def apply(specs: list[JobSpec], target: Target, run_options: RunOptions, *,
          region: str | None = None,
          on_start: Callable[[SpecPlan], None] | None = None,
          on_done: Callable[[Applied], None] | None = None) -> ApplyResult:
    """Plan the state of every spec (no token counting), then run the new and changed ones.

    A changed spec runs its new revision from the start (`restart`); a failure
    in one spec is recorded and the others still run.
    """
    lines = asyncio.run(plan_specs(specs, target, PlanOptions(count_tokens=False, region=region)))
    result = ApplyResult()
    for spec, line in zip(specs, lines, strict=True):
        applied = Applied(plan=line)
        if line.will_run:
            if on_start:
                on_start(line)
            options = dataclasses.replace(run_options, restart=line.state == "changed")
            try:
                applied.summary = execute(spec, dataclasses.replace(target, region=line.region),
                                          options)
            except ClaudeJobsError as exc:
                applied.error = exc
        result.applied.append(applied)
        if on_done:
            on_done(applied)
    return result
