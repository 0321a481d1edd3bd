"""Stream test fixtures: a local Vertex AI server per module, ledgers in a temp folder."""

from __future__ import annotations

import gc
import logging

import pytest
from stream_helpers import QUIET, Vertex, get, post


@pytest.fixture(scope="module", autouse=True)
def no_client_session_left_open():
    """Every aiohttp session a module opens (the runner's client) is closed by it: one left to the
    garbage collector is reported by asyncio in whichever later test collects it."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    left = [r.getMessage().splitlines()[0] for r in records if r.getMessage().startswith("Unclosed")]
    assert left == [], f"this module left aiohttp sessions open: {left}"


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    from runner.local.server import start_server_process

    process = start_server_process(QUIET, tmp_path_factory.mktemp("vertex"))
    try:
        yield Vertex(process)
    finally:
        process.stop()


@pytest.fixture
def quiet_vertex(vertex):
    """The module's server with no quota, no latency and no faults."""
    vertex.configure(**QUIET)
    return vertex


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Retries wait milliseconds, not seconds: the policy is the same, the tests stay short."""
    from runner.stream import executor
    from runner.stream.retry import Backoff

    monkeypatch.setattr(executor, "BACKOFF", Backoff(base=0.01, cap=0.05))


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    """Ledgers under the test's own folder; the spec folder is the working directory."""
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys, monkeypatch, quiet_vertex, state_home):
    """`claude-jobs ARGS` on the module's Vertex server; returns (exit code, the `error:` lines)."""
    from contextlib import contextmanager
    from dataclasses import replace

    from runner.cli import invoke

    @contextmanager
    def module_server(project=None, region=None, **_):
        yield replace(quiet_vertex.target(), region=region or "us-east5")

    monkeypatch.setattr("runner.cli.targets.open_target", module_server)

    def run(*args):
        code = invoke([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, [line for line in err.splitlines() if line.startswith("error:")]

    return run


@pytest.fixture
def vertex_config(local_stack):
    """Set the session Vertex server's config for one test; restored after."""
    saved = get(local_stack.vertex_url, "/_local/config")

    def configure(config: dict) -> None:
        post(local_stack.vertex_url, "/_local/config", config)
        post(local_stack.vertex_url, "/_local/reset", {})

    yield configure
    post(local_stack.vertex_url, "/_local/config", saved)
