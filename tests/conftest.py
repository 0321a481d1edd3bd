"""Root fixtures: the local stack (real emulators + local Vertex server) on free ports.

`local_stack` (session) yields a local `runner.clients.Target`; `local_stack_endpoints`
yields its `StackEndpoints`. Each pytest-xdist worker gets its own stack in its
own temporary folder. While the session's stack runs, `$CLAUDE_JOBS_LOCAL_DIR`
points at it, so code under test that calls `open_target()`/`ensure_up()`
reuses it instead of starting another one. If the worker dies without
finishing, the stack's watchdog stops it. Tests using it are marked `stack`
(deselect with `-m "not stack"`).
"""

from __future__ import annotations

import os

import pytest

STACK_FIXTURES = {"local_stack", "local_stack_endpoints"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def local_stack_endpoints(tmp_path_factory):
    """The running session stack's endpoints (`.vertex .storage .bigquery .project .root`)."""
    from runner.local import stack

    saved = {
        var: os.environ.get(var)
        for var in ("CLAUDE_JOBS_LOCAL_DIR", "STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")
    }
    os.environ["CLAUDE_JOBS_LOCAL_DIR"] = str(tmp_path_factory.mktemp("local-stack"))
    for var in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"):
        os.environ.pop(var, None)
    try:
        endpoints = stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0, owned=True)
        try:
            yield endpoints
        finally:
            stack.down()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@pytest.fixture(scope="session")
def local_stack(local_stack_endpoints):
    """A `runner.clients.Target` for the session's local stack."""
    from runner.clients import Target

    e = local_stack_endpoints
    return Target(
        project=e.project, local=True, vertex_url=e.vertex, storage_url=e.storage, bigquery_url=e.bigquery
    )
