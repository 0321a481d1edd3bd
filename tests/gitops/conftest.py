"""Fixtures for the GitOps tests (the harness is gitops_repo.py)."""

from __future__ import annotations

import pytest
from gitops_repo import STREAM_EXAMPLES, Repo, make_repo


@pytest.fixture
def stream_repo(tmp_path, local_stack) -> Repo:
    """A repository with the two stream examples only: fast to apply on the local stack."""
    return make_repo(tmp_path / "repo", STREAM_EXAMPLES)
