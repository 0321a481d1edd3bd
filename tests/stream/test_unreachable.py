"""A dead endpoint stops the run early with one line, and leaves unfinished rows pending."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from stream_helpers import write_spec

from runner.clients import Target
from runner.errors import EXIT_REMOTE
from runner.spec import load_spec
from runner.stream import stream_status


@pytest.fixture
def on_dead_endpoint(cli, dead_url, monkeypatch):
    @contextmanager
    def dead_target(project=None, region=None, **_):
        yield Target(project="p", region=region or "us-east5", local=True, vertex_url=dead_url)

    monkeypatch.setattr("runner.cli.targets.open_target", dead_target)
    return cli


def test_an_unreachable_endpoint_stops_the_run_with_one_line(on_dead_endpoint, dead_url, state_home):
    spec = write_spec(state_home, rows=40, stream={"max_retries": 50})
    code, errors = on_dead_endpoint("run", spec, "--no-progress")
    assert code == EXIT_REMOTE
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot reach Vertex AI at {dead_url}/v1/: connection failed: ")
    assert errors[0].endswith("(check the network or `claude-jobs local status`; re-run to resume)")


def test_rows_left_by_an_unreachable_endpoint_stay_pending(on_dead_endpoint, state_home):
    spec = write_spec(state_home, rows=40, stream={"max_retries": 50})
    on_dead_endpoint("run", spec, "--no-progress")
    status = stream_status(load_spec(spec), project="p")
    assert (status["succeeded"], status["errored"]) == (0, 0)


def test_workers_failing_together_print_no_stray_task_tracebacks(
    on_dead_endpoint, state_home, caplog, monkeypatch
):
    import gc
    import logging

    from runner.stream import executor
    from runner.stream.retry import Backoff

    # No backoff, and the first connection failure counts as unreachable: every worker in flight
    # raises. The run must report one error and leave no task exception unretrieved (asyncio
    # would print each one's traceback at exit).
    monkeypatch.setattr(executor, "BACKOFF", Backoff(base=0.0, cap=0.0))
    monkeypatch.setattr(executor, "UNREACHABLE_AFTER", 0)
    for attempt in range(3):
        spec = write_spec(
            state_home,
            rows=200,
            name=f"t{attempt}",
            destination=f"out/r{attempt}.jsonl",
            stream={"max_retries": 50, "concurrency": 16},
        )
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            code, errors = on_dead_endpoint("run", spec, "--no-progress")
            gc.collect()
        assert code == EXIT_REMOTE and len(errors) == 1, errors
    assert [r.getMessage()[:60] for r in caplog.records if r.name == "asyncio"] == []
