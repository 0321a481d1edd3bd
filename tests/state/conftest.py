"""State-location fixtures: the same tests run on a local state folder and on fake-gcs-server."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def gcs_store(local_stack):
    """A fresh prefix in the local stack's bucket, reached with the official storage client."""
    from runner.state import open_state

    return open_state(f"gs://claude-jobs-local/state-tests/{uuid.uuid4().hex[:10]}", local_stack)


@pytest.fixture
def folder_store(tmp_path, monkeypatch):
    from runner.state import open_state

    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "home"))
    return open_state(None, None)


@pytest.fixture(params=["folder", "gcs"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")
