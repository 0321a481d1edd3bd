"""The server process: port 0 and the ready file, flags and config files, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from runner.errors import StackError
from runner.local.server import start_server_process

HAIKU = "claude-3-5-haiku@20241022"
BODY = {
    "anthropic_version": "vertex-2023-10-16",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


def _predict(url: str) -> int:
    request = urllib.request.Request(
        f"{url}/v1/projects/p/locations/us-east5/publishers/anthropic/models/{HAIKU}:rawPredict",
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_module_entry_point_binds_port_zero_writes_the_ready_file_and_exits_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner.local.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
            "--ready-file",
            str(ready),
            "--fault",
            "overloaded=1.0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == process.pid
        assert info["url"].startswith("http://127.0.0.1:") and not info["url"].endswith(":0")
        assert _predict(info["url"]) == 529  # the --fault flag is live

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_start_server_process_applies_a_config_file_and_stops_cleanly(tmp_path):
    config = tmp_path / "vertex.yaml"
    config.write_text("quotas:\n  '*':\n    requests_per_minute: 1\nfaults:\n  seed: 3\n")
    with start_server_process(config, tmp_path / "state") as server:
        assert [_predict(server.url), _predict(server.url)] == [200, 429]
        process = server.process
    assert process.poll() is not None


def test_a_bad_config_file_fails_fast_and_leaves_no_process(tmp_path):
    config = tmp_path / "vertex.yaml"
    config.write_text("tokens_per_secnd: 5\n")
    with pytest.raises(StackError, match="exited") as raised:
        start_server_process(config, tmp_path / "state")

    assert "tokens_per_secnd" in str(raised.value)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_server_exits_when_its_parent_dies_without_stopping_it(tmp_path):
    # A parent that starts a server and dies without stopping it.
    script = (
        "import sys, os; from runner.local.server import start_server_process; "
        f"s = start_server_process(None, {str(tmp_path)!r}); print(s.pid, flush=True); os._exit(0)"
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(parent.stdout.split()[0])
    try:
        for _ in range(100):  # the server notices within about half a second
            if not _running(pid):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"server {pid} still running after its parent died")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
