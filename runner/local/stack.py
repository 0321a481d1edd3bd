"""The local stack's lifecycle: start the three services, check them, record them, stop them.

Everything lives in one folder, `state_dir()/local` (or `$CLAUDE_JOBS_LOCAL_DIR`):
`stack.json` (pids, ports, endpoints), `gcs/`, `bigquery/`, `vertex/`, `logs/`.
Services run detached in their own session (`processes.py`), so `claude-jobs
local up` can exit and `down` can stop each whole process group. A stack
started for a run (`ensure_up`) records its users and has a watchdog process,
so the last user out, or the watchdog after a crash, stops it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner.clients import LOCAL_PROJECT
from runner.errors import ConfigError, StackError, UsageError
from runner.local import emulators, ports, processes
from runner.local.emulators import SERVICES, Launch
from runner.local.ports import HOST
from runner.paths import PRIVATE_FILE, private_folder, state_dir, write_private

START_TIMEOUT_ENV = "CLAUDE_JOBS_LOCAL_START_TIMEOUT"


class _PortTaken(StackError):
    """A service could not bind its port (taken since it was found free)."""


@dataclass(frozen=True)
class StackEndpoints:
    """Where a running stack answers; URLs are `http://host:port` without a path."""

    vertex: str
    storage: str
    bigquery: str
    project: str = LOCAL_PROJECT
    bigquery_grpc: str = ""
    root: str = ""


def stack_dir() -> Path:
    """The stack's folder: `$CLAUDE_JOBS_LOCAL_DIR` or `state_dir()/local`."""
    env = os.environ.get("CLAUDE_JOBS_LOCAL_DIR")
    return Path(env).expanduser().resolve() if env else state_dir() / "local"


# -- public API ---------------------------------------------------------------


def up(
    *,
    vertex_port: int | None = None,
    storage_port: int | None = None,
    bigquery_port: int | None = None,
    bigquery_grpc_port: int | None = None,
    config: str | Path | None = None,
    seed: bool = True,
    owned: bool = False,
) -> StackEndpoints:
    """Start the stack (or return the running one) and seed it. Port None: env var or default; 0: free port.

    `owned`: the stack is started for this process (a test session, an
    automatic run) rather than for the user: a watchdog process stops it once
    no process that uses it (see `ensure_up`) is alive, e.g. after a crash.
    """
    return _up(
        dict(
            vertex=vertex_port, storage=storage_port, bigquery=bigquery_port, bigquery_grpc=bigquery_grpc_port
        ),
        config,
        seed,
        owned,
    )


def _up(asked: dict[str, int | None], config, seed: bool, owned: bool = False) -> StackEndpoints:
    root = stack_dir()
    with _locked(root):
        previous = _read_record(root)
        running = _running_endpoints(root)
        if config is None and previous is not None and previous.get("config"):
            # A half-dead stack is restarted as it was started (`local up --config X`).
            config = previous["config"]
        if running is not None:
            if owned:
                _add_user(root)
            else:
                _keep(root)
            return running
        # Free ports are picked before the services bind them: if another process takes
        # one in between, start again on new ones.
        attempts = 3 if all(port == 0 for port in asked.values()) else 1
        for attempt in range(attempts):
            try:
                return _start(root, asked, config, seed, owned)
            except _PortTaken:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")


def _start(root: Path, asked: dict[str, int | None], config, seed: bool, owned: bool) -> StackEndpoints:
    chosen = ports.resolve_ports(asked)
    endpoints = StackEndpoints(
        vertex=f"http://{HOST}:{chosen['vertex']}",
        storage=f"http://{HOST}:{chosen['storage']}",
        bigquery=f"http://{HOST}:{chosen['bigquery']}",
        bigquery_grpc=f"{HOST}:{chosen['bigquery_grpc']}",
        root=str(root),
    )
    config_file, user_config = _write_server_config(root, config, endpoints)
    launches = [  # the slowest to boot first
        emulators.bigquery_launch(root, HOST, chosen["bigquery"], chosen["bigquery_grpc"], LOCAL_PROJECT),
        emulators.vertex_launch(root, HOST, chosen["vertex"], config_file),
        emulators.storage_launch(root, HOST, chosen["storage"]),
    ]
    procs = {launch.service: processes.spawn(launch) for launch in launches}
    record: dict[str, Any] = {
        "endpoints": asdict(endpoints),
        "ports": chosen,
        "services": {
            name: processes.describe(proc, launch) for (name, proc), launch in zip(procs.items(), launches)
        },
    }
    if user_config is not None:
        record["config"] = str(user_config)
    if owned:
        record["users"] = [processes.me()]
        record["watchdog"] = processes.spawn_watchdog(
            [sys.executable, "-m", "runner.local.stack", "watchdog", str(root)],
            root / "logs" / "watchdog.log",
        )
    _write_record(root, record)
    try:
        if seed:
            # Importing the Google clients takes about a second: overlap it with the services' boot.
            import threading

            from runner.local.seed import warm_imports

            warming = threading.Thread(target=warm_imports, daemon=True)
            warming.start()
        _wait_ready(launches, procs)
        if seed:
            from runner.local.seed import seed_stack

            warming.join()
            seed_stack(endpoints)
    except BaseException:
        processes.stop(record)
        (root / "stack.json").unlink(missing_ok=True)
        raise
    return endpoints


def down() -> bool:
    """Stop every process of the stack; True if something was running."""
    root = stack_dir()
    if not (root / "stack.json").exists():  # nothing to stop: do not create the folder
        return False
    with _locked(root):
        record = _read_record(root)
        if record is None:
            return False
        processes.stop(record)
        (root / "stack.json").unlink(missing_ok=True)
        return True


def status() -> dict:
    """Endpoints, project, and whether each service is up (process alive and answering)."""
    root = stack_dir()
    record = _read_record(root)
    result: dict = {
        "vertex": None,
        "storage": None,
        "bigquery": None,
        "project": LOCAL_PROJECT,
        "services": {name: False for name in SERVICES},
        "running": False,
        "state_dir": str(root),
    }
    if record is None:
        return result
    result.update({key: record["endpoints"][key] for key in ("vertex", "storage", "bigquery")})
    for name in SERVICES:
        info = record["services"][name]
        result["services"][name] = processes.alive(info) and _answers(info["probe_url"], 1.0)
    result["running"] = all(result["services"].values())
    result["pids"] = {name: record["services"][name]["pid"] for name in SERVICES}
    result["logs"] = {name: record["services"][name]["log"] for name in SERVICES}
    return result


def current() -> StackEndpoints | None:
    """The running stack's endpoints, or None (a stale stack.json is cleaned up)."""
    root = stack_dir()
    with _locked(root):
        return _running_endpoints(root)


@contextmanager
def ensure_up(config: str | Path | None = None) -> Iterator[StackEndpoints]:
    """Use the running stack, or start one; stop it on exit if no one else uses it.

    A stack started by `claude-jobs local up` is always left running. One
    started here (or by another `ensure_up`, e.g. a parallel run) counts its
    users and is stopped by the last one to leave. It takes the port env vars
    if set, else free ports: an automatic run must not fail on a taken port.
    """
    asked: dict[str, int | None] = {
        name: ports.parse_port(os.environ[env], env) if os.environ.get(env) else 0
        for name, env in ports.PORT_ENV.items()
    }
    endpoints = _up(asked, config, seed=True, owned=True)
    try:
        yield endpoints
    finally:
        _release(stack_dir())


def _add_user(root: Path) -> None:
    record = _read_record(root)
    if record is not None and "users" in record:  # only stacks started for a process
        record["users"].append(processes.me())
        _write_record(root, record)


def _keep(root: Path) -> None:
    """`local up` on a stack started for a run: from now on it stays up until `local down`."""
    record = _read_record(root)
    if record is not None and "users" in record:
        watchdog_info = record.pop("watchdog", None)
        del record["users"]
        _write_record(root, record)
        if watchdog_info:
            processes.stop({"services": {}, "watchdog": watchdog_info})


def _release(root: Path) -> None:
    with _locked(root):
        record = _read_record(root)
        if record is None or "users" not in record:
            return
        me = processes.me()
        if me in record["users"]:
            record["users"].remove(me)
        record["users"] = [user for user in record["users"] if processes.alive(user)]
        if record["users"]:
            _write_record(root, record)
        else:
            processes.stop(record)
            (root / "stack.json").unlink(missing_ok=True)


def watchdog(root: Path) -> None:
    """The watchdog process of an owned stack: stop it once none of its users is alive."""
    me = os.getpid()
    while True:
        time.sleep(1.0)
        if not (root / "stack.json").exists():
            return  # stopped (and perhaps the folder deleted): never recreate it
        with _locked(root):
            record = _read_record(root)
            if record is None or (record.get("watchdog") or {}).get("pid") != me:
                return  # stopped by someone else, or another stack took over the folder
            if any(processes.alive(user) for user in record.get("users", ())):
                continue
            record["watchdog"] = None
            processes.stop(record)
            (root / "stack.json").unlink(missing_ok=True)
            return


def log_file(service: str) -> Path:
    if service not in SERVICES:
        raise UsageError(
            f"unknown service {service!r}", where="SERVICE", hint=f"one of {', '.join(SERVICES)}"
        )
    return stack_dir() / "logs" / f"{service}.log"


# -- readiness ----------------------------------------------------------------


def _wait_ready(launches: list[Launch], procs: dict[str, subprocess.Popen]) -> None:
    timeout = float(os.environ.get(START_TIMEOUT_ENV) or 60)
    deadline = time.monotonic() + timeout
    pending = {launch.service: launch for launch in launches}
    while pending:
        for name, launch in list(pending.items()):
            code = procs[name].poll()
            if code is not None:
                tail = _tail(launch.log)
                error = _PortTaken if "address already in use" in tail.lower() else StackError
                raise error(
                    f"the {name} service exited with code {code} while starting: {tail}",
                    where=str(launch.log),
                    hint="read the log; a port in use or a broken install are common",
                )
            if (launch.ready_file is None or launch.ready_file.exists()) and _answers(
                launch.probe_url, timeout=0.5
            ):
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            name, launch = next(iter(pending.items()))
            raise StackError(
                f"the {name} service was not ready after {timeout:.0f} s",
                where=str(launch.log),
                hint=f"read the log; raise {START_TIMEOUT_ENV} on a slow machine",
            )
        time.sleep(0.05)


def _answers(url: str, timeout: float) -> bool:
    """True when an HTTP server answers at `url`, whatever the status code."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


# -- stack.json, config -----------------------------------------------------------


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One up/down at a time per stack folder (two terminals, or a run next to `local up`)."""
    try:
        private_folder(root)
        lock = os.fdopen(os.open(root / "stack.lock", os.O_WRONLY | os.O_CREAT, PRIVATE_FILE), "w")
    except OSError as exc:
        raise _unusable(root, exc) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _unusable(root: Path, exc: OSError) -> StackError:
    var = "CLAUDE_JOBS_LOCAL_DIR" if os.environ.get("CLAUDE_JOBS_LOCAL_DIR") else "CLAUDE_JOBS_HOME"
    return StackError(
        f"cannot use {root} for the local stack: {exc.strerror or exc}",
        where=var,
        hint=f"set {var} to a writable folder",
    )


def _read_record(root: Path) -> dict | None:
    try:
        return json.loads((root / "stack.json").read_text())
    except FileNotFoundError:
        return None
    except (NotADirectoryError, PermissionError) as exc:  # the folder, not the record, is wrong
        raise _unusable(root, exc) from None
    except (OSError, ValueError) as exc:
        raise StackError(
            f"unreadable stack record: {exc}",
            where=str(root / "stack.json"),
            hint="stop stray services by pid and delete the file",
        ) from None


def _write_record(root: Path, record: dict) -> None:
    write_private(root / "stack.json", json.dumps(record, indent=2))


def _running_endpoints(root: Path) -> StackEndpoints | None:
    """The recorded stack if all its services are alive; a partly dead stack is stopped and forgotten."""
    record = _read_record(root)
    if record is None:
        return None
    if all(processes.alive(record["services"][name]) for name in SERVICES):
        return StackEndpoints(**record["endpoints"])
    processes.stop(record)
    (root / "stack.json").unlink(missing_ok=True)
    return None


def _write_server_config(
    root: Path, config: str | Path | None, endpoints: StackEndpoints
) -> tuple[Path, Path | None]:
    """The Vertex server's config: the user's file (validated) plus where the emulators answer.

    A copy of the user's config is kept too (second value, None without one): a stack found
    half dead is restarted with it, even if the file has changed or gone since.
    """
    from runner.local.batch_engine import BatchKnobs
    from runner.local.config import ServerConfig

    server_config = ServerConfig.load(config)
    try:
        BatchKnobs.from_dict(server_config.batch)
    except ConfigError as exc:
        raise ConfigError(exc.message, where=f"{config}: batch", hint=exc.hint) from None
    user_copy = None
    if config is not None:
        user_copy = root / "vertex" / "user-config.json"
        private_folder(user_copy.parent)
        write_private(user_copy, json.dumps(server_config.to_dict(), indent=2))
    batch = dict(server_config.batch)
    batch.setdefault("storage_url", endpoints.storage)
    batch.setdefault("bigquery_url", endpoints.bigquery)
    batch.setdefault("project", endpoints.project)
    server_config.batch = batch
    path = root / "vertex" / "config.json"
    private_folder(path.parent)
    write_private(path, json.dumps(server_config.to_dict(), indent=2))
    return path, user_copy


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


if __name__ == "__main__" and sys.argv[1:2] == ["watchdog"]:
    watchdog(Path(sys.argv[2]))
