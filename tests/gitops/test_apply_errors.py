"""apply records a spec's library or OS failure as that spec's located error and runs the others."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import runner.gitops.apply as apply_module
from runner.clients import Target
from runner.gitops.plan import SpecPlan
from runner.records import RunOptions, RunSummary
from runner.spec.model import InlinePrompt, JobSpec


def _spec(name: str) -> JobSpec:
    prompt = InlinePrompt(custom_id="a", messages=[{"role": "user", "content": "hi"}])
    return JobSpec(
        path=Path(f"jobs/{name}.yaml"),
        text=name,
        name=name,
        model="claude-x",
        mode="stream",
        destination=f"{name}.jsonl",
        prompts=(prompt,),
    )


@pytest.fixture
def fake_runs(monkeypatch):
    """Every spec plans as new; running `broken` raises what the test puts in `failures`."""
    failures: dict[str, BaseException] = {}
    ran: list[str] = []

    async def plan_spec(spec, target, options):
        return SpecPlan(
            name=spec.name,
            path=str(spec.path),
            mode=spec.mode,
            model=spec.model,
            region=spec.region,
            destination=spec.destination,
            state="new",
        )

    def execute(spec, target, options):
        ran.append(spec.name)
        if spec.name in failures:
            raise failures[spec.name]
        return RunSummary(spec=spec.name, mode=spec.mode, target="t", total=1, succeeded=1)

    monkeypatch.setattr(apply_module, "plan_spec", plan_spec)
    monkeypatch.setattr(apply_module, "execute", execute)
    return failures, ran


def _apply(names):
    return apply_module.apply([_spec(n) for n in names], Target(project="p"), RunOptions(progress=False))


def test_an_os_error_in_one_spec_is_its_located_error_and_the_next_spec_still_runs(fake_runs):
    failures, ran = fake_runs
    failures["broken"] = PermissionError(errno.EACCES, "Permission denied", "/data/out.jsonl")
    result = _apply(["broken", "fine"])
    assert ran == ["broken", "fine"]
    broken, fine = result.applied
    assert broken.exit_code == 3
    assert str(broken.error) == "/data/out.jsonl: Permission denied (check the permissions of the path)"
    assert fine.error is None and fine.summary.ok
    assert result.exit_code == 3


def test_a_bug_in_one_spec_still_aborts_apply(fake_runs):
    failures, ran = fake_runs
    failures["broken"] = KeyError("bug")
    with pytest.raises(KeyError):
        _apply(["broken", "fine"])
    assert ran == ["broken"]
