"""`claude-jobs` processes forked from one that has imported the CLI and the SDKs already.

The kill/resume proofs start dozens of `claude-jobs run` processes and SIGKILL them mid-run.
Started with exec, each spends about 2 s of CPU importing the Anthropic and Google SDKs before
it sends a call: most of those tests' time. A fork server imports them once; every run it
forks is still its own process, running the console script's `runner.cli.invoke` with its own
arguments, working directory, environment and output files, and a SIGKILL ends it as abruptly
as any other (its ledger, lock and destination are all that is left). What exec adds, the
interpreter's start and the lazy imports, is covered by the tests that start `claude-jobs`
itself (tests/stream/test_run.py, tests/local/test_stack.py, one kill test of
tests/stream/test_crash_resume.py).

`ForkServer.spawn()` returns a `ForkedRun` with the part of `subprocess.Popen` the tests use:
`pid`, `poll()`, `send_signal()`, `wait()`, `communicate()` and `returncode` (minus the signal
number when a signal ended it, as Popen gives).

Run as a script, this file is the server: requests in, pids out, one JSON line each on
stdin/stdout; each exit status is written next to the run's output files.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

# What `claude-jobs run` imports on its way to the first call (the rest is imported when used).
PRELOAD = (
    "runner.cli",
    "runner.cli.run_cmd",
    "runner.cli.targets",
    "runner.local.stack",
    "runner.stream.executor",
    "runner.batch.run",
    "runner.dataio.sinks",
    "anthropic",
    "anthropic.lib.vertex",
    "anthropic._vendor.httpx_aiohttp",
    "google.cloud.storage",
    "google.cloud.bigquery",
)


class ForkedRun:
    """One forked `claude-jobs` process; its stdout, stderr and exit status are files."""

    def __init__(self, pid: int, out: Path, err: Path, status: Path):
        self.pid = pid
        self.returncode: int | None = None
        self._out, self._err, self._status = out, err, status

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # not yet reaped by the server, so the pid is still this run's
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"claude-jobs (pid {self.pid})", timeout or 0)
            time.sleep(0.002)
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        self.wait(timeout)
        return self._out.read_bytes(), self._err.read_bytes()


class ForkServer:
    """The server process (`start()`), and the client side of its pipe."""

    def __init__(self, process: subprocess.Popen, folder: Path):
        self._process = process
        self._folder = folder
        self._numbers = itertools.count()

    @classmethod
    def start(cls, folder: Path) -> ForkServer:
        process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=folder,
        )
        assert process.stdout is not None
        ready = process.stdout.readline()
        if ready.strip() != b"ready":
            process.kill()
            raise RuntimeError(f"the fork server did not start: {ready!r}")
        return cls(process, folder)

    def spawn(self, argv: list[str], *, cwd: Path | str, env: dict[str, str]) -> ForkedRun:
        """`claude-jobs ARGV` in `cwd` with exactly `env`, as a forked process."""
        n = next(self._numbers)
        out, err, status = (self._folder / f"{n}.{kind}" for kind in ("out", "err", "status"))
        request = {
            "argv": argv,
            "cwd": str(cwd),
            "env": env,
            "out": str(out),
            "err": str(err),
            "status": str(status),
        }
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        return ForkedRun(reply["pid"], out, err, status)

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def start_cli(argv: list[str], *, cwd: Path | str, env: dict[str, str], forks: ForkServer | None = None):
    """`claude-jobs ARGV` in `cwd` with `env`: exec'd as a `subprocess.Popen` (stdout and stderr piped),
    or forked from `forks` as a `ForkedRun`."""
    if forks is not None:
        return forks.spawn(argv, cwd=cwd, env=env)
    cli = str(Path(sys.executable).with_name("claude-jobs"))  # the installed console script
    return subprocess.Popen([cli, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- the server ---------------------------------------------------------------------


def _child(request: dict) -> None:
    """In the forked process: become `claude-jobs ARGV` and exit with its code."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        stdin = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for fd, target in ((stdin, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.argv = ["claude-jobs", *request["argv"]]
        from runner.cli import invoke

        code = invoke(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _reap(statuses: dict[int, str]) -> None:
    while statuses:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = statuses.pop(pid)
        Path(path + ".tmp").write_text(str(os.waitstatus_to_exitcode(wait_status)))
        os.replace(path + ".tmp", path)


def serve() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    statuses: dict[int, str] = {}
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    replies.write(b"ready\n")
    replies.flush()
    open_ = True
    while open_ or statuses:
        _reap(statuses)
        if not open_:
            time.sleep(0.002)
            continue
        readable, _, _ = select.select([requests], [], [], 0.002)
        if not readable:
            continue
        line = requests.readline()
        if not line:
            open_ = False
            continue
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        statuses[pid] = request["status"]
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    serve()
