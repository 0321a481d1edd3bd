"""Two machines, one state location in Cloud Storage: resume anywhere, one run at a time.

Each "machine" is its own CLAUDE_JOBS_HOME (its own SQLite working copy, its own
identity in locks); both share CLAUDE_JOBS_STATE=gs://... on the session's local
stack (fake-gcs-server) and the spec's folder. The runs are real `claude-jobs run`
processes, killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from forked_cli import start_cli
from stream_helpers import QUIET, get, write_spec

CLI = str(Path(sys.executable).with_name("claude-jobs"))
ROWS = 240
CONCURRENCY = 24
LIVELY = {
    **QUIET,
    "time_to_first_token": 0.005,
    "tokens_per_second": 4000.0,
    "faults": {
        "seed": 5,
        "stall_seconds": 30,
        "rates": {"rate_limited": 0.03, "stream_error": 0.03, "overloaded": 0.02},
    },
}
SLOW = {**QUIET, "time_to_first_token": 0.2, "tokens_per_second": 50.0}


@pytest.fixture
def shared(tmp_path, local_stack, monkeypatch):
    """The spec folder (working directory of every run) and a fresh gs:// state location."""
    monkeypatch.chdir(tmp_path)
    state = f"gs://claude-jobs-local/state-tests/{uuid.uuid4().hex[:10]}"
    return tmp_path, state


def start(
    folder: Path, machine: str, state: str, *flags, spec="spec.yaml", lease: float | None = None, forks=None
):
    """`claude-jobs run` on `machine`: exec'd, or forked from `forks` (tests/forked_cli.py)."""
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / f"machine-{machine}"), "CLAUDE_JOBS_STATE": state}
    if lease is not None:
        env["CLAUDE_JOBS_LOCK_LEASE"] = str(lease)
    return start_cli(["run", str(folder / spec), "--no-progress", *flags], cwd=folder, env=env, forks=forks)


def store(state: str, target):
    from runner.state import open_state

    return open_state(state, target)


class FlushWatch:
    """custom_ids of every row flushed to the state location's ledger (repeats included).

    Flush objects are immutable, so each is read once and remembered: a tight polling loop then
    costs one listing per poll instead of re-reading every flush, which cost the test process
    as much CPU as the run it watches.
    """

    def __init__(self, state: str, target, spec_name: str):
        from runner.state.ledger_objects import RemoteLedger

        self.remote = RemoteLedger(store(state, target), target.project, spec_name)
        self.read: dict[str, list[str]] = {}

    def ids(self) -> list[str]:
        found = self.remote.head()
        if found is None:
            return []
        ids: list[str] = []
        for _, key in self.remote.flushes(found[0]["epoch"]):
            if key not in self.read:
                self.read[key] = [row["custom_id"] for _, row in self.remote.read_flush(key)]
            ids.extend(self.read[key])
        return ids


def flushed_ids(state: str, target, spec_name: str) -> list[str]:
    return FlushWatch(state, target, spec_name).ids()


def paid_calls(url: str) -> int:
    """Calls the server answered in full (what Vertex bills), from its request log."""
    entries = get(url, "/_local/requests")["requests"]
    return sum(1 for e in entries if "Predict" in e["endpoint"] and e["status"] == 200 and not e["fault"])


def destination_ids(folder: Path, target, spec="spec.yaml") -> list[str]:
    from runner.dataio.sinks import open_sink, read_destination
    from runner.spec import load_spec

    loaded = load_spec(folder / spec)
    return [r["custom_id"] for r in read_destination(open_sink(loaded.destination, loaded, target))]


def kill_at_random_point(folder, machine, state, target, rng, step: int, watch: FlushWatch, forks) -> bool:
    """Start a run on `machine`, SIGKILL it once up to `step` more rows were flushed."""
    goal = len(watch.ids()) + rng.randint(0, step)
    # The killed run's lock stays behind: the next machine waits out its short lease.
    process = start(folder, machine, state, "--wait-lock", "60s", lease=1.5, forks=forks)
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        if len(watch.ids()) >= goal:
            time.sleep(rng.uniform(0, 0.05))
            break
        time.sleep(0.02)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert killed or process.returncode == 0, err.decode()[-2000:]
    return killed


def kill_on_a_resume_on_b(shared, local_stack, vertex_config, kills: int, seed: int, forks=None):
    folder, state = shared
    vertex_config(LIVELY)
    write_spec(folder, rows=ROWS, name="crash", stream={"concurrency": CONCURRENCY, "max_retries": 10})
    rng = random.Random(seed)
    watch = FlushWatch(state, local_stack, "crash")
    in_flight_at_kills = []
    for i in range(kills):
        paid_before = paid_calls(local_stack.vertex_url)
        flushed_before = len(watch.ids())
        killed = kill_at_random_point(
            folder, "AB"[i % 2], state, local_stack, rng, ROWS // kills, watch, forks
        )
        # Answered by Vertex in this run but never flushed: what the kill caught in flight.
        paid = paid_calls(local_stack.vertex_url) - paid_before
        newly_flushed = len(watch.ids()) - flushed_before
        if killed:
            in_flight_at_kills.append(paid - newly_flushed)
    assert in_flight_at_kills, "no run was killed"
    final = start(
        folder, "AB"[kills % 2], state, "--format", "json", "--wait-lock", "60s", lease=1.5, forks=forks
    )
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert (summary["succeeded"], summary["errored"]) == (ROWS, 0)
    ids = destination_ids(folder, local_stack)
    assert not [cid for cid, n in Counter(ids).items() if n > 1], "a custom_id twice in the destination"
    assert sorted(ids) == [f"r{i:06d}" for i in range(ROWS)], "rows lost"
    # Paid twice: only what was in flight at a kill: calls under way (at most CONCURRENCY) and
    # answers waiting for the next flush (at most FLUSH_INTERVAL's worth, fewer at this pace).
    assert all(0 <= n <= 2 * CONCURRENCY for n in in_flight_at_kills), in_flight_at_kills
    assert paid_calls(local_stack.vertex_url) - ROWS == sum(in_flight_at_kills)
    flushed = flushed_ids(state, local_stack, "crash")
    assert sorted(set(flushed)) == sorted(ids) and len(flushed) == ROWS  # each row flushed once


def test_a_run_killed_on_one_machine_resumes_on_another_with_one_result_per_custom_id(
    shared, local_stack, vertex_config
):
    # Started with exec, as a user starts it; the other tests that kill fork theirs (tests/forked_cli.py).
    kill_on_a_resume_on_b(shared, local_stack, vertex_config, kills=3, seed=11)


@pytest.mark.slow
def test_ten_kills_alternating_between_two_machines_pay_twice_only_what_was_in_flight(
    shared, local_stack, vertex_config, forked_cli
):
    kill_on_a_resume_on_b(shared, local_stack, vertex_config, kills=10, seed=21, forks=forked_cli)


def wait_for_lock(state, target, spec_name="crash", timeout=60):
    from runner.state.locks import lock_key

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store(state, target).read(lock_key(target.project, spec_name)) is not None:
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took its lock")


def test_the_same_spec_on_two_machines_at_once_runs_once_and_the_other_is_refused_naming_the_holder(
    shared, local_stack, vertex_config, forked_cli
):
    folder, state = shared
    vertex_config(SLOW)
    write_spec(folder, rows=60, name="crash", stream={"concurrency": 4})
    a = start(folder, "A", state, lease=4, forks=forked_cli)
    try:
        wait_for_lock(state, local_stack)
        b = start(folder, "B", state, lease=4, forks=forked_cli)
        _, err = b.communicate(timeout=120)
        assert b.returncode == 1
        line = err.decode().strip().splitlines()[-1]
        assert "spec 'crash' is being run by" in line and f"pid {a.pid}" in line, line
        assert "machine-A" in line and "claude-jobs unlock crash" in line
    finally:
        a.send_signal(signal.SIGKILL)
        a.communicate(timeout=60)
    # A died holding the lock: B is still refused until the lease (4 s) runs out...
    vertex_config(QUIET)  # (slow answers were only needed to keep A running while B was refused)
    b = start(folder, "B", state, lease=4, forks=forked_cli)
    _, err = b.communicate(timeout=120)
    if b.returncode == 1:  # started within the lease
        assert "is being run by" in err.decode()
        time.sleep(4.5)
        b = start(folder, "B", state, lease=4, forks=forked_cli)
        _, err = b.communicate(timeout=300)
    assert b.returncode == 0, err.decode()[-2000:]
    assert sorted(destination_ids(folder, local_stack)) == [f"r{i:06d}" for i in range(60)]


def test_unlock_lets_another_machine_take_over_at_once(shared, local_stack, vertex_config):
    folder, state = shared
    vertex_config(SLOW)
    write_spec(folder, rows=60, name="crash", stream={"concurrency": 4})
    a = start(folder, "A", state)  # the default lease: 120 s
    wait_for_lock(state, local_stack)
    a.send_signal(signal.SIGKILL)
    a.communicate(timeout=60)
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / "machine-B"), "CLAUDE_JOBS_STATE": state}
    refused = start(folder, "B", state)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and "is being run by" in err.decode()
    unlock = subprocess.run(
        [CLI, "unlock", "spec.yaml"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert unlock.returncode == 0, unlock.stderr
    assert unlock.stdout.startswith("crash: removed the lock held by ") and f"pid {a.pid}" in unlock.stdout
    vertex_config(QUIET)
    b = start(folder, "B", state)
    _, err = b.communicate(timeout=300)
    assert b.returncode == 0, err.decode()[-2000:]
    assert sorted(destination_ids(folder, local_stack)) == [f"r{i:06d}" for i in range(60)]


def test_two_specs_with_one_destination_on_two_machines_at_once_one_is_refused(
    shared, local_stack, vertex_config
):
    folder, state = shared
    vertex_config({**QUIET, "time_to_first_token": 0.02})
    for name in ("a", "b"):
        (folder / name).mkdir()
        write_spec(folder / name, rows=120, name=name, destination="../out/shared.jsonl")
    a = start(folder, "A", state, spec="a/spec.yaml")
    b = start(folder, "B", state, spec="b/spec.yaml")
    results = {name: p.communicate(timeout=300) + (p.returncode,) for name, p in (("a", a), ("b", b))}
    codes = sorted(code for _, _, code in results.values())
    assert codes == [0, 1], {k: v[1].decode()[-500:] for k, v in results.items()}
    loser = next(name for name, (_, _, code) in results.items() if code == 1)
    winner = "ab".replace(loser, "")
    assert f"out/shared.jsonl belongs to spec '{winner}'" in results[loser][1].decode()
    ids = destination_ids(folder, local_stack, spec=f"{winner}/spec.yaml")
    assert sorted(ids) == [f"r{i:06d}" for i in range(120)]  # once each: the loser wrote nothing


def test_status_on_another_machine_reads_the_state_location(shared, local_stack, vertex_config):
    folder, state = shared
    vertex_config(QUIET)
    write_spec(folder, rows=10, name="crash")
    a = start(folder, "A", state)
    assert a.wait(timeout=300) == 0
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / "machine-B"), "CLAUDE_JOBS_STATE": state}
    status = subprocess.run(
        [CLI, "status", "spec.yaml", "--format", "json"],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["succeeded"] == 10
    again = start(folder, "B", state, "--format", "json")
    out, _ = again.communicate(timeout=300)
    assert json.loads(out)["skipped"] == 10 and paid_calls(local_stack.vertex_url) == 10


def test_state_push_moves_a_local_ledger_to_the_state_location_so_nothing_is_sent_again(
    shared, local_stack, vertex_config
):
    folder, state = shared
    vertex_config(QUIET)
    write_spec(folder, rows=10, name="crash")
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / "machine-A")}
    env.pop("CLAUDE_JOBS_STATE", None)
    local = subprocess.run([CLI, "run", "spec.yaml", "--no-progress"], cwd=folder, env=env, timeout=300)
    assert local.returncode == 0
    refused = start(folder, "A", state)
    _, err = refused.communicate(timeout=300)
    assert refused.returncode == 1
    assert "has a ledger in the local state folder but none in" in err.decode()
    assert "claude-jobs state push" in err.decode()
    push = subprocess.run(
        [CLI, "state", "push", "--state", state],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert push.returncode == 0, push.stderr
    assert "crash (claude-jobs-local): pushed 10 rows in 1 objects" in push.stdout
    again = subprocess.run(
        [CLI, "state", "push", "--state", state],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "already in" in again.stdout
    b = start(folder, "B", state, "--format", "json")
    out, err = b.communicate(timeout=300)
    assert b.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["skipped"] == 10
    assert paid_calls(local_stack.vertex_url) == 10  # the first, local run's only
    assert sorted(destination_ids(folder, local_stack)) == [f"r{i:06d}" for i in range(10)]
