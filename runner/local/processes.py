"""Processes of the local stack: start detached, check alive, stop whole process groups.

Each service runs in its own session (so it outlives `claude-jobs local up`)
and is stopped by signalling its process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from runner.errors import StackError
from runner.local.emulators import Launch
from runner.paths import PRIVATE_FILE, private_folder

STOP_GRACE_SECONDS = 5.0

# Popen handles of processes this process started, reaped on stop so none stays a zombie.
_children: dict[int, subprocess.Popen] = {}


def spawn(launch: Launch) -> subprocess.Popen:
    if launch.ready_file is not None:
        launch.ready_file.unlink(missing_ok=True)
    env = {**os.environ, **launch.env}
    # The services must never talk to real Google Cloud, whatever the caller's environment says.
    for var in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        env.pop(var, None)
    with _private_log(launch.log) as log:
        try:
            proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(launch.log.parent),
                start_new_session=True,
                umask=0o077,  # its state (logs, prompts, answers) is only its owner's
            )
        except OSError as exc:
            raise StackError(
                f"cannot start the {launch.service} service: {exc}",
                where=str(launch.log),
                hint="reinstall with `pip install 'claude-jobs[local]'` (or `make install` in a clone)",
            ) from None
    _children[proc.pid] = proc
    return proc


def _private_log(path: Path):
    """The log opened for appending, created 0600: services log the prompts they receive."""
    private_folder(path.parent)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE), "ab")


def describe(proc: subprocess.Popen, launch: Launch) -> dict:
    import psutil

    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = None
    return {
        "pid": proc.pid,
        "pgid": proc.pid,
        "create_time": created,
        "probe_url": launch.probe_url,
        "log": str(launch.log),
        "argv": launch.argv,
    }


def alive(info: dict) -> bool:
    import psutil

    try:
        proc = psutil.Process(info["pid"])
        if info.get("create_time") is not None and abs(proc.create_time() - info["create_time"]) > 1.0:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_members(pgid: int) -> list:
    import psutil

    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def stop(record: dict) -> None:
    """SIGTERM every service's process group, then SIGKILL what is left; reap our children."""
    if record.get("watchdog") and alive(record["watchdog"]):
        _signal_group(record["watchdog"]["pgid"], signal.SIGKILL)
        _reap([record["watchdog"]["pid"]], wait=True)
    groups = [info["pgid"] for info in record["services"].values() if alive(info)]
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        _reap(groups)
        if not any(_group_members(pgid) for pgid in groups):
            break
        time.sleep(0.05)
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    _reap(groups, wait=True)
    left = [p.pid for pgid in groups for p in _group_members(pgid)]
    if left:
        raise StackError(
            f"processes still running after SIGKILL: {left}",
            hint="stop them by pid, then run `claude-jobs local down` again",
        )


def me() -> dict:
    """This process as a stack user: pid and start time (a reused pid is not mistaken for it)."""
    import psutil

    return {"pid": os.getpid(), "create_time": psutil.Process().create_time()}


def spawn_watchdog(argv: list[str], log_path: Path) -> dict:
    """Start a detached helper process; its pid, group and start time, like a service's."""
    with _private_log(log_path) as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
    _children[proc.pid] = proc
    import psutil

    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = None
    return {"pid": proc.pid, "pgid": proc.pid, "create_time": created}


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pids: list[int], wait: bool = False) -> None:
    """Collect the exit status of services this process started, so none stays a zombie."""
    for pid in pids:
        proc = _children.get(pid)
        if proc is None:
            continue
        try:
            code = proc.wait(timeout=2.0) if wait else proc.poll()
        except subprocess.TimeoutExpired:
            continue
        if code is not None:
            del _children[pid]
