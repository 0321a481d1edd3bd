"""Fixtures for render tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """A repository folder (it holds `.git`) with `jobs/` and `data/`; the cwd is elsewhere."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    return root
