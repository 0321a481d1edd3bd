"""The local Vertex AI server: an aiohttp app (online routes + batch jobs) and its process.

    python -m runner.local.server --host 127.0.0.1 --port 0 --state-dir DIR \
        [--config FILE] [--ready-file FILE] [knob flags]

binds, writes `{"url": "http://127.0.0.1:PORT", "pid": N}` to the ready file
(so `--port 0` works), and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from runner.errors import ConfigError, StackError
from runner.local.config import FAULT_KINDS, ServerConfig
from runner.local.predict import setup

STATE_DIR = web.AppKey("runner.local.state_dir", Path)


def create_app(config: ServerConfig, state_dir: Path) -> web.Application:
    """The whole server: online routes, /_local endpoints, then batch jobs if that module exists."""
    # Bodies are read by the routes themselves so that oversize ones get Vertex's 413.
    app = web.Application(client_max_size=config.max_body_bytes + 1024 * 1024, middlewares=[admin_guard])
    app[STATE_DIR] = Path(state_dir)
    setup(app, config)
    if importlib.util.find_spec("runner.local.batch_jobs") is not None:
        from runner.local import batch_jobs

        batch_jobs.setup(app, config, Path(state_dir))
    return app


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@web.middleware
async def admin_guard(request: web.Request, handler):
    """`/_local/*` reconfigures the stack and shows logged prompts: loopback callers only.

    The socket is bound to loopback, but a web page in the developer's browser can still
    reach it: cross-origin requests carry an `Origin` (or `Sec-Fetch-Site`) header, and a
    DNS-rebinding page a `Host` that is not a loopback name. Either is refused with 403.
    """
    if request.path.startswith("/_local/"):
        refusal = _admin_refusal(request)
        if refusal is not None:
            from runner.local.faults import google_error

            return web.json_response(google_error(403, "PERMISSION_DENIED", refusal), status=403)
    return await handler(request)


def _admin_refusal(request: web.Request) -> str | None:
    host = request.headers.get("Host", "")
    if _hostname(host) not in _LOOPBACK:
        return f"/_local endpoints answer only Host 127.0.0.1 or localhost, not {host[:80]!r}"
    origin = request.headers.get("Origin")
    if origin is not None and _hostname(origin.partition("://")[2]) not in _LOOPBACK:
        return f"/_local endpoints refuse cross-origin requests (Origin {origin[:80]!r})"
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        return "/_local endpoints refuse cross-site requests"
    return None


def _hostname(netloc: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:
        return None


# -- the process ----------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m runner.local.server", description="Local Vertex AI server with a simulated Claude."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--config", help="YAML or JSON file of ServerConfig keys")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--ready-file", help="written with {url, pid} once listening")
    parser.add_argument("--time-to-first-token", type=float, help="seconds")
    parser.add_argument("--tokens-per-second", type=float, help="stream pacing; 0 = none")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"fault rate 0..1; kinds: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--fault-seed", type=int)
    parser.add_argument("--stall-seconds", type=float)
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="MODEL=RPM,ITPM,OTPM",
        help="per-minute limits for a model id or '*'; empty field = unlimited",
    )
    parser.add_argument("--scripted-replies", help="JSONL of {match, reply | error}")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the process that started this one ends"
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The config file (if any) with the knob flags applied over it."""
    config = ServerConfig.load(args.config)
    changes: dict[str, Any] = {}
    if args.time_to_first_token is not None:
        changes["time_to_first_token"] = args.time_to_first_token
    if args.tokens_per_second is not None:
        changes["tokens_per_second"] = args.tokens_per_second
    if args.scripted_replies:
        changes["scripted_replies"] = args.scripted_replies
    faults = config.to_dict()["faults"]
    for item in args.fault:
        kind, _, rate = item.partition("=")
        try:
            faults["rates"][kind] = float(rate)
        except ValueError:
            raise ConfigError(f"bad fault {item!r}", where="--fault", hint="use KIND=RATE") from None
    if args.fault_seed is not None:
        faults["seed"] = args.fault_seed
    if args.stall_seconds is not None:
        faults["stall_seconds"] = args.stall_seconds
    changes["faults"] = faults
    quotas = config.to_dict()["quotas"]
    for item in args.quota:
        model, _, limits = item.partition("=")
        parts = (limits.split(",") + ["", "", ""])[:3]
        try:
            values = [int(p) if p.strip() else None for p in parts]
        except ValueError:
            raise ConfigError(
                f"bad quota {item!r}", where="--quota", hint="use MODEL=RPM,ITPM,OTPM (empty = unlimited)"
            ) from None
        quotas[model] = dict(
            zip(("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"), values)
        )
    changes["quotas"] = quotas
    return config.updated(changes)


async def _serve(config: ServerConfig, args: argparse.Namespace) -> None:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(create_app(config, state_dir), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]  # the real port when --port 0
    if args.ready_file:
        ready = Path(args.ready_file)
        tmp = ready.with_name(ready.name + ".tmp")
        tmp.write_text(json.dumps({"url": f"http://{args.host}:{port}", "pid": os.getpid()}))
        tmp.replace(ready)  # atomic: a reader never sees half a file
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop)) if args.exit_with_parent else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await runner.cleanup()


async def _watch_parent(stop: asyncio.Event) -> None:
    """Set `stop` once the parent is gone (we get re-parented), so a crashed test leaves nothing."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    try:
        asyncio.run(_serve(config, args))
    except ConfigError as exc:  # e.g. an unreadable scripted_replies file
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


# -- starting it from Python -------------------------------------------------------


class ServerProcess:
    """A running server process; `stop()` (or leaving the `with` block) ends it."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_local/stats", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_server_process(
    config: str | Path | ServerConfig | dict | None,
    state_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    timeout: float = 30.0,
) -> ServerProcess:
    """Start `python -m runner.local.server` and return once it answers; never leaves it behind.

    `config` is a config file path, or a ServerConfig/dict written to `state_dir` first.
    The server also exits by itself if this process dies without stopping it.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    if isinstance(config, (ServerConfig, dict)):
        data = config.to_dict() if isinstance(config, ServerConfig) else config
        config_path = state_dir / f"vertex-config-{stamp}.json"
        config_path.write_text(json.dumps(data))
        config = config_path
    ready = state_dir / f"vertex-ready-{stamp}.json"
    log_path = state_dir / "vertex-server.log"
    command = [
        sys.executable,
        "-m",
        "runner.local.server",
        "--host",
        host,
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--ready-file",
        str(ready),
        "--exit-with-parent",
    ]
    if config is not None:
        command += ["--config", str(config)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise StackError(
                    f"the local Vertex AI server exited with code {process.returncode}",
                    where=str(log_path),
                    hint=tail.strip().splitlines()[-1] if tail.strip() else None,
                )
            if ready.exists():
                url = json.loads(ready.read_text())["url"]
                if _is_ready(url):
                    ready.unlink(missing_ok=True)
                    return ServerProcess(process, url, log_path)
            time.sleep(0.05)
        raise StackError(
            f"the local Vertex AI server did not become ready within {timeout:.0f} s",
            where=str(log_path),
            hint="see the log for the cause",
        )
    except BaseException:
        process.kill()
        process.wait()
        raise


if __name__ == "__main__":
    sys.exit(main())
