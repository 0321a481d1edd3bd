"""The local stack's lifecycle, seeding and CLI, driven through the official clients."""

from __future__ import annotations

import io
import json
import socket
import time
from contextlib import redirect_stdout

import psutil
import pytest

from runner.errors import StackError
from runner.local import stack
from runner.local.seed import SEED_DATA


def _stack_processes(record_dir) -> list[psutil.Process]:
    record = json.loads((record_dir / "stack.json").read_text())
    procs = []
    for info in record["services"].values():
        parent = psutil.Process(info["pid"])
        procs += [parent, *parent.children(recursive=True)]
    return procs


@pytest.mark.early
def test_ensure_up_starts_a_stack_and_leaves_no_process_after_exit(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    with stack.ensure_up() as endpoints:
        procs = _stack_processes(tmp_path)
        assert len(procs) >= 3
        assert stack.status()["services"] == {"vertex": True, "storage": True, "bigquery": True}
    _gone, alive = psutil.wait_procs(procs, timeout=5)
    assert alive == []
    assert not (tmp_path / "stack.json").exists()
    assert endpoints.vertex.startswith("http://127.0.0.1:")


def test_ensure_up_reuses_a_running_stack_and_leaves_it_running(local_stack_endpoints):
    with stack.ensure_up() as endpoints:
        assert endpoints == local_stack_endpoints
    assert stack.status()["running"] is True


def test_stale_stack_record_with_dead_pids_is_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    dead = psutil.Popen(["true"])
    dead.wait()
    info = {
        "pid": dead.pid,
        "pgid": dead.pid,
        "create_time": 0.0,
        "probe_url": "http://127.0.0.1:1/",
        "log": str(tmp_path / "x.log"),
        "argv": ["true"],
    }
    (tmp_path / "stack.json").write_text(
        json.dumps(
            {
                "endpoints": {
                    "vertex": "http://127.0.0.1:1",
                    "storage": "http://127.0.0.1:2",
                    "bigquery": "http://127.0.0.1:3",
                },
                "ports": {},
                "services": {name: info for name in ("vertex", "storage", "bigquery")},
            }
        )
    )
    assert stack.current() is None
    assert not (tmp_path / "stack.json").exists()


def test_a_busy_port_is_refused_naming_its_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(StackError) as caught:
            stack.up(vertex_port=busy.getsockname()[1], storage_port=0, bigquery_port=0, bigquery_grpc_port=0)
    assert caught.value.where == "--vertex-port"
    assert not (tmp_path / "stack.json").exists()


def test_stack_is_seeded_with_bucket_dataset_and_example_tickets(local_stack):
    bucket = local_stack.storage().bucket("claude-jobs-local")
    assert (
        bucket.blob("examples/tickets.jsonl").download_as_bytes()
        == (SEED_DATA / "tickets.jsonl").read_bytes()
    )
    bq = local_stack.bigquery()
    assert bq.get_dataset("claude-jobs-local.claude_jobs").location == "us-east5"
    rows = list(bq.list_rows("claude-jobs-local.claude_jobs.example_tickets"))
    assert len(rows) == 20
    assert set(rows[0].keys()) == {"id", "product", "body"}
    seeded = {json.loads(line)["id"] for line in (SEED_DATA / "tickets.jsonl").read_text().splitlines()}
    assert {row["id"] for row in rows} == seeded


def test_seeding_twice_adds_no_rows(local_stack, local_stack_endpoints):
    from runner.local.seed import seed_stack

    seed_stack(local_stack_endpoints)
    rows = list(local_stack.bigquery().list_rows("claude-jobs-local.claude_jobs.example_tickets"))
    assert len(rows) == 20


def test_status_json_prints_endpoints_project_and_services(local_stack_endpoints):
    from runner.cli import invoke

    out = io.StringIO()
    with redirect_stdout(out):
        code = invoke(["local", "status", "--format", "json"])
    info = json.loads(out.getvalue())
    assert code == 0
    assert {info["vertex"], info["storage"], info["bigquery"]} == {
        local_stack_endpoints.vertex,
        local_stack_endpoints.storage,
        local_stack_endpoints.bigquery,
    }
    assert info["project"] == "claude-jobs-local"
    assert info["services"] == {"vertex": True, "storage": True, "bigquery": True}


@pytest.mark.early
def test_cli_up_then_down_leaves_no_process_behind(tmp_path, monkeypatch):
    from runner.cli import invoke

    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    out = io.StringIO()
    with redirect_stdout(out):
        assert (
            invoke(
                [
                    "local",
                    "up",
                    "--vertex-port",
                    "0",
                    "--storage-port",
                    "0",
                    "--bigquery-port",
                    "0",
                    "--bigquery-grpc-port",
                    "0",
                ]
            )
            == 0
        )
    assert "simulated Claude" in out.getvalue()
    procs = _stack_processes(tmp_path)
    assert invoke(["local", "down"]) == 0
    _gone, alive = psutil.wait_procs(procs, timeout=5)
    assert alive == []
    with redirect_stdout(io.StringIO()):
        assert invoke(["local", "status"]) == 3


def test_seeded_tickets_are_the_example_data_tickets():
    from runner.paths import PACKAGE_DIR

    example = PACKAGE_DIR.parent / "jobs" / "examples" / "data" / "tickets.jsonl"
    assert (SEED_DATA / "tickets.jsonl").read_text() == example.read_text()


@pytest.mark.early
def test_an_owned_stack_is_stopped_by_its_watchdog_when_its_owner_dies(tmp_path):
    owner = _owner_process(
        tmp_path,
        "stack.up(vertex_port=0, storage_port=0, bigquery_port=0, "
        "bigquery_grpc_port=0, seed=False, owned=True)",
    )
    try:
        procs = _stack_processes(tmp_path)
    finally:
        owner.kill()
        owner.wait()
    _gone, alive = psutil.wait_procs(procs, timeout=20)
    assert alive == []
    assert not (tmp_path / "stack.json").exists()


def _owner_process(tmp_path, call: str):
    import os
    import subprocess
    import sys

    script = (
        f"from runner.local import stack; import time\n{call}\nprint('up', flush=True); time.sleep(120)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={**os.environ, "CLAUDE_JOBS_LOCAL_DIR": str(tmp_path)},
    )
    assert owner.stdout.readline() == b"up\n"
    return owner


@pytest.mark.early
def test_a_stack_started_by_one_run_stays_up_for_another_run_and_stops_after_the_last(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    first = _owner_process(tmp_path, "run = stack.ensure_up(); run.__enter__()")
    try:
        procs = _stack_processes(tmp_path)
        with stack.ensure_up():
            first.kill()
            first.wait()
            time.sleep(3)  # the watchdog checks every second: it must see this test still using it
            assert stack.status()["running"] is True
    finally:
        first.kill()
        first.wait()
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    assert alive == []


def test_a_service_that_dies_at_start_fails_up_naming_its_log_and_stops_the_rest(tmp_path, monkeypatch):
    import dataclasses
    import sys

    from runner.local import emulators

    real = emulators.storage_launch

    def broken(root, host, port):
        launch = real(root, host, port)
        return dataclasses.replace(
            launch, argv=[sys.executable, "-c", "import sys; print('cannot bind: boom'); sys.exit(3)"]
        )

    from runner.local import processes

    spawned = []
    real_spawn = processes.spawn

    def recording_spawn(launch):
        proc = real_spawn(launch)
        spawned.append(psutil.Process(proc.pid))
        return proc

    monkeypatch.setattr(emulators, "storage_launch", broken)
    monkeypatch.setattr(processes, "spawn", recording_spawn)
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    with pytest.raises(StackError) as caught:
        stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0)
    assert caught.value.where == str(tmp_path / "logs" / "storage.log")
    assert "cannot bind: boom" in str(caught.value)
    assert not (tmp_path / "stack.json").exists()
    assert len(spawned) == 3
    _gone, alive = psutil.wait_procs(spawned, timeout=5)
    assert alive == []


def test_a_service_that_never_answers_fails_up_after_the_start_timeout(tmp_path, monkeypatch):
    import dataclasses
    import sys

    from runner.local import emulators

    real = emulators.storage_launch

    def silent(root, host, port):
        return dataclasses.replace(
            real(root, host, port), argv=[sys.executable, "-c", "import time; time.sleep(60)"]
        )

    monkeypatch.setattr(emulators, "storage_launch", silent)
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_START_TIMEOUT", "1")
    with pytest.raises(StackError) as caught:
        stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0)
    assert "not ready after 1 s" in str(caught.value)
    assert caught.value.where.endswith(".log")
    assert not (tmp_path / "stack.json").exists()


@pytest.mark.early
def test_a_free_port_taken_before_its_service_binds_it_makes_up_retry_on_new_ports(tmp_path, monkeypatch):
    from runner.local import ports

    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path))
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        stolen = thief.getsockname()[1]
        real = ports.free_port
        picks = iter([stolen])
        monkeypatch.setattr(ports, "free_port", lambda exclude: next(picks, None) or real(exclude))
        endpoints = stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0, seed=False)
    try:
        assert endpoints.vertex != f"http://127.0.0.1:{stolen}"
        assert stack.status()["running"] is True
        assert "address already in use" in (tmp_path / "logs" / "vertex.log").read_text().lower()
    finally:
        stack.down()


def test_a_half_dead_stack_started_with_a_config_is_restarted_with_that_config(tmp_path, monkeypatch):
    import os
    import signal
    import urllib.request

    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "stack"))
    for env in ("CLAUDE_JOBS_LOCAL_VERTEX_PORT", "CLAUDE_JOBS_LOCAL_STORAGE_PORT"):
        monkeypatch.delenv(env, raising=False)
    config = tmp_path / "slow.yaml"
    config.write_text("time_to_first_token: 0.123\n")
    stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0, config=config, seed=False)
    try:
        record = json.loads((tmp_path / "stack" / "stack.json").read_text())
        os.killpg(record["services"]["storage"]["pgid"], signal.SIGKILL)  # half dead now
        psutil.wait_procs([psutil.Process(record["services"]["storage"]["pid"])], timeout=5)
        config.unlink()  # the stack keeps its own copy
        with stack.ensure_up() as endpoints:
            url = f"{endpoints.vertex}/_local/config"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert json.load(response)["time_to_first_token"] == 0.123
    finally:
        stack.down()
