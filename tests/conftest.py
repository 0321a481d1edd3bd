"""Root fixtures: the local stack (real emulators + local Vertex server) on free ports.

`local_stack` (session) yields a local `runner.clients.Target`; `local_stack_endpoints`
yields its `StackEndpoints`. Each pytest-xdist worker gets its own stack in its
own temporary folder. While the session's stack runs, `$CLAUDE_JOBS_LOCAL_DIR`
points at it, so code under test that calls `open_target()`/`ensure_up()`
reuses it instead of starting another one. If the worker dies without
finishing, the stack's watchdog stops it. Tests using it are marked `stack`
(deselect with `-m "not stack"`).

How the suite runs in parallel (`make test` passes `-n 2 --dist loadgroup`, see the
Makefile's PYTEST_ARGS):

- Two pytest-xdist workers, each with its own session stack, temporary folders and
  free ports. A session fixture is built once per worker; a fixture you want built
  once for the whole run must live in one worker, so make it module-scoped:
- every test that uses a module-scoped fixture is put in that module's xdist group
  (done here, automatically), so the module's tests run on one worker and the
  fixture is built once. Build expensive state (a stack run, an applied repository)
  in a module-scoped fixture and let each test check one consequence of it.
- Tests marked `slow` or `early` are started first, so the long ones never end up
  alone at the tail of the run while the other worker idles. Mark a test `early`
  when it takes more than ~5 s (it changes nothing else about it).
- Run a single file without `-n`: one process is faster than starting workers.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from contextlib import contextmanager

import pytest

STACK_FIXTURES = {"local_stack", "local_stack_endpoints"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
        if _uses_a_module_fixture(item) and not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    # Stable: the same order in every worker, as xdist requires.
    items.sort(key=lambda item: not (item.get_closest_marker("slow") or item.get_closest_marker("early")))


def _uses_a_module_fixture(item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values())


@pytest.fixture
def dead_url():
    """A loopback address nothing listens on (bound to a free port, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def forked_cli(tmp_path_factory):
    """A `forked_cli.ForkServer`: `claude-jobs` processes that skip the SDK imports (see there)."""
    from forked_cli import ForkServer

    server = ForkServer.start(tmp_path_factory.mktemp("forked-cli"))
    try:
        yield server
    finally:
        server.stop()


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


@pytest.fixture(scope="session")
def vertex_configured(local_stack):
    """`with vertex_configured(config):` runs the block with the session stack's Vertex server set
    to `config` (latency, faults, quotas) and puts its previous config back after."""

    def call(method: str, config: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{local_stack.vertex_url}/_local/config",
            method=method,
            data=None if config is None else json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    @contextmanager
    def configured(config: dict):
        saved = call("GET")
        call("POST", config)
        try:
            yield
        finally:
            call("POST", saved)

    return configured
