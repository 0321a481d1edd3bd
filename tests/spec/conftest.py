"""Fixtures for the spec tests: the repository root, and running the CLI in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec.support import REPO


@pytest.fixture
def in_repo(monkeypatch):
    """Run from the repository root, so displayed paths are `tests/specs/...` as in the .expected files."""
    monkeypatch.chdir(REPO)
    return REPO


@pytest.fixture
def run_cli(in_repo, capsys):
    """`claude-jobs ARGS` in-process: (exit code, stdout, stderr)."""
    from runner.cli import invoke

    def run(*args: str) -> tuple[int, str, str]:
        code = invoke(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    """Write a spec into a throw-away repository (a folder with .git) and return its path."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    write.root = tmp_path
    return write


@pytest.fixture
def run_cli_in(capsys):
    """`claude-jobs ARGS` in-process from the current folder: (exit code, stdout, stderr)."""
    from runner.cli import invoke

    def run(*args: str) -> tuple[int, str, str]:
        code = invoke(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
