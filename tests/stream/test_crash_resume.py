"""kill -9 of a real `claude-jobs run` at random points, then a resume: no lost, no duplicated row.

The run talks to the session's local stack (the CLI finds it through
$CLAUDE_JOBS_LOCAL_DIR); its Vertex server gets a little latency and some
faults so that kills land while calls, commits and sink writes are in flight.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
import uuid
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
from forked_cli import start_cli
from stream_helpers import QUIET, write_spec

ROWS = 240
LIVELY = {
    **QUIET,
    "time_to_first_token": 0.005,
    "tokens_per_second": 4000.0,
    "faults": {
        "seed": 3,
        "stall_seconds": 30,
        "rates": {"rate_limited": 0.03, "stream_error": 0.03, "overloaded": 0.02},
    },
}


@pytest.fixture
def lively_stack(local_stack, vertex_configured):
    """The session stack's Vertex server with latency and faults; its config restored after."""
    with vertex_configured(LIVELY):
        yield local_stack


def start_run(folder, *flags, forks=None):
    """`claude-jobs run` on the folder's spec: exec'd, or forked from `forks` (tests/forked_cli.py)."""
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / "state")}
    return start_cli(
        ["run", str(folder / "spec.yaml"), "--no-progress", *flags], cwd=folder, env=env, forks=forks
    )


def ledger_path(folder) -> Path:
    return folder / "state" / "stream" / "claude-jobs-local" / "crash" / "ledger.sqlite"


def ledger_count(folder) -> int:
    path = ledger_path(folder)
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=1)) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


class LedgerWatch:
    """`ledger_count` for a tight polling loop: one connection kept open (the ledger is in WAL
    mode, so every query sees the latest commit) instead of one opened per millisecond, which
    cost the test process as much CPU as the run it watches."""

    def __init__(self, folder):
        self.path = ledger_path(folder)
        self.conn: sqlite3.Connection | None = None

    def count(self) -> int:
        if self.conn is None:
            if not self.path.exists():
                return 0
            self.conn = sqlite3.connect(self.path, timeout=1)
        try:
            return self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def file_size(folder) -> int:
    try:
        return (folder / "out" / "r.jsonl").stat().st_size
    except FileNotFoundError:
        return 0


def kill_at_random_point(folder, rng: random.Random, forks=None) -> int:
    """Start a run and SIGKILL it at a random point; returns the ledger's row count then.

    Half the kills wait for the ledger to reach a random count (anywhere in the
    pipeline); the others strike the moment the results file grows, i.e. just
    after a part was written and before it is marked written: the narrowest window.
    """
    goal = ledger_count(folder) + rng.randint(0, ROWS // 3)
    on_write = rng.random() < 0.5
    process = start_run(folder, forks=forks)
    ledger = LedgerWatch(folder)
    size = file_size(folder)
    reached = False  # the ledger only grows during a run: once at the goal, watch the file alone
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if on_write:
                reached = reached or ledger.count() >= goal
                grown = file_size(folder)
                if reached and grown != size:
                    break
                size = grown
            elif ledger.count() >= goal:
                time.sleep(rng.uniform(0, 0.05))  # land between a commit and what follows it
                break
            time.sleep(0.001 if on_write else 0.005)
    finally:
        ledger.close()
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == (-signal.SIGKILL if killed else 0)  # forked or exec'd alike
    return ledger_count(folder) if killed else ROWS


def destination_ids(folder, destination, target) -> list[str]:
    from runner.dataio.sinks import open_sink, read_destination
    from runner.spec import load_spec

    spec = load_spec(folder / "spec.yaml")
    return [r["custom_id"] for r in read_destination(open_sink(destination, spec, target))]


def kill_and_resume(
    folder, target, destination, kills: int, seed: int, output: dict | None = None, forks=None
) -> None:
    write_spec(
        folder,
        rows=ROWS,
        name="crash",
        destination=destination,
        stream={"concurrency": 24, "max_retries": 10},
        output=output,
        max_tokens=200 if output else 32,
    )
    rng = random.Random(seed)
    done_at_kills = [kill_at_random_point(folder, rng, forks) for _ in range(kills)]
    assert any(0 < done < ROWS for done in done_at_kills), f"no kill mid-run: {done_at_kills}"
    final = start_run(folder, "--format", "json", forks=forks)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert (summary["succeeded"], summary["errored"]) == (ROWS, 0)
    ids = destination_ids(folder, destination, target)
    duplicated = [cid for cid, n in Counter(ids).items() if n > 1]
    assert not duplicated, f"duplicated after {kills} kills: {duplicated[:5]}"
    assert sorted(ids) == [f"r{i:06d}" for i in range(ROWS)], "rows lost"


@pytest.mark.early
def test_killed_runs_resume_to_exactly_one_result_per_custom_id(state_home, lively_stack):
    # Started with exec, as a user starts it; the other kill tests fork theirs (tests/forked_cli.py).
    kill_and_resume(state_home, lively_stack, "out/r.jsonl", kills=3, seed=1)


def test_killed_typed_runs_resume_to_exactly_one_typed_row_per_custom_id(
    state_home, lively_stack, forked_cli
):
    output = {
        "schema": {
            "type": "object",
            "properties": {"category": {"enum": ["a", "b"]}, "score": {"type": "integer"}},
            "required": ["category", "score"],
            "additionalProperties": False,
        },
        "keep": ["q"],
    }
    kill_and_resume(state_home, lively_stack, "out/r.jsonl", kills=3, seed=5, output=output, forks=forked_cli)
    lines = [json.loads(line) for line in (state_home / "out" / "r.jsonl").read_text().splitlines()]
    assert all(row["category"] in ("a", "b") and row["q"].startswith("question") for row in lines)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_many_kills_resume_to_exactly_one_result_per_custom_id(state_home, lively_stack, seed, forked_cli):
    kill_and_resume(state_home, lively_stack, "out/r.jsonl", kills=6, seed=100 + seed, forks=forked_cli)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gs", "bq"])
def test_many_kills_with_a_cloud_destination_leave_one_result_per_custom_id(
    state_home, lively_stack, kind, forked_cli
):
    unique = uuid.uuid4().hex[:8]
    destination = (
        f"gs://claude-jobs-local/crash/{unique}"
        if kind == "gs"
        else f"bq://{lively_stack.project}.claude_jobs.crash_{unique}"
    )
    kill_and_resume(state_home, lively_stack, destination, kills=5, seed=7, forks=forked_cli)


@pytest.mark.early
def test_ctrl_c_stops_with_exit_130_and_a_resume_finishes(state_home, lively_stack, forked_cli):
    write_spec(
        state_home,
        rows=ROWS,
        name="crash",
        destination="out/r.jsonl",
        stream={"concurrency": 8, "max_retries": 10},
    )
    process = start_run(state_home, forks=forked_cli)
    deadline = time.monotonic() + 120
    while ledger_count(state_home) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()[-2000:]
    assert "resume" in err.decode()
    done = ledger_count(state_home)
    assert 0 < done < ROWS
    assert len((state_home / "out" / "r.jsonl").read_text().splitlines()) == done
    final = start_run(state_home, forks=forked_cli)
    final.communicate(timeout=300)
    assert final.returncode == 0
    ids = [json.loads(line)["custom_id"] for line in (state_home / "out" / "r.jsonl").open()]
    assert sorted(ids) == [f"r{i:06d}" for i in range(ROWS)]
