"""`make test`, which is what CI runs, passes every lint check before it runs a test."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LINT_CHECKS = ("ruff check", "ruff format --check", "lint-imports", "mypy")


def _dry_run(target: str) -> list[str]:
    """The commands `make TARGET` would run, in order (`make -n` runs none of them)."""
    result = subprocess.run(
        ["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.splitlines()


def _first(commands: list[str], needle: str) -> int:
    return next(i for i, command in enumerate(commands) if needle in command)


def test_make_lint_runs_ruff_format_import_contracts_and_mypy():
    commands = _dry_run("lint")
    for check in LINT_CHECKS:
        assert any(check in command for command in commands), f"make lint does not run {check}"


def test_make_test_runs_every_lint_check_before_pytest():
    commands = _dry_run("test")
    pytest_at = _first(commands, "-m pytest")
    for check in LINT_CHECKS:
        assert _first(commands, check) < pytest_at, f"{check} does not run before the tests"


def test_ci_runs_make_test():
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert "exec make test" in [line.strip() for line in lines]
