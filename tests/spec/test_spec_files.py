"""One test per file in tests/specs/{valid,invalid}: each gives exactly its expected lines.

See tests/specs/README.md: `NAME.expected` holds the exact output lines (errors
and warnings) for `NAME.yaml`; a valid file without one must produce none.
All files are validated with tests/specs/stack-outputs.json (the local stack).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.spec import load_stack_outputs, validate_paths
from spec.support import SPECS, STACK_OUTPUTS

VALID = sorted((SPECS / "valid").glob("*.yaml"))
INVALID = sorted((SPECS / "invalid").glob("*.yaml"))


def expected_lines(spec: Path) -> list[str]:
    sidecar = spec.with_suffix(".expected")
    return sidecar.read_text(encoding="utf-8").splitlines() if sidecar.exists() else []


def lines_for(spec: Path) -> tuple[bool, list[str]]:
    [report] = validate_paths(
        [spec.relative_to(SPECS.parents[1]).as_posix()], load_stack_outputs(STACK_OUTPUTS)
    )
    return report.ok, report.lines()


def test_there_are_at_least_forty_invalid_cases():
    assert len(INVALID) >= 40


def test_every_invalid_case_states_its_expected_error():
    missing = [p.name for p in INVALID if not p.with_suffix(".expected").exists()]
    assert not missing


@pytest.mark.parametrize("spec", VALID, ids=[p.stem for p in VALID])
def test_valid_spec_is_valid(spec, in_repo):
    ok, lines = lines_for(spec)
    assert ok, "\n".join(lines)
    assert lines == expected_lines(spec)


@pytest.mark.parametrize("spec", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_spec_gives_exactly_its_expected_error(spec, in_repo):
    ok, lines = lines_for(spec)
    assert not ok
    assert lines == expected_lines(spec)
