"""Ports of the local stack: defaults, env vars and flags, free-port picking (loopback only)."""

from __future__ import annotations

import os
import socket

from runner.errors import StackError, UsageError

HOST = "127.0.0.1"
DEFAULT_PORTS = {"vertex": 8790, "storage": 4443, "bigquery": 9050, "bigquery_grpc": 9060}
PORT_ENV = {
    "vertex": "CLAUDE_JOBS_LOCAL_VERTEX_PORT",
    "storage": "CLAUDE_JOBS_LOCAL_STORAGE_PORT",
    "bigquery": "CLAUDE_JOBS_LOCAL_BIGQUERY_PORT",
    "bigquery_grpc": "CLAUDE_JOBS_LOCAL_BIGQUERY_GRPC_PORT",
}


def parse_port(value, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"not a port number: {value!r}",
            where=where,
            hint="a number from 1 to 65535, or 0 for a free port",
        ) from None
    if not 0 <= port <= 65535:
        raise UsageError(
            f"port {port} out of range", where=where, hint="a number from 1 to 65535, or 0 for a free port"
        )
    return port


def resolve_ports(asked: dict[str, int | None]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for name, port in asked.items():
        flag = f"--{name.replace('_', '-')}-port"
        where = flag  # the error names what set the port: flag, variable
        if port is None:
            env = os.environ.get(PORT_ENV[name])
            where = PORT_ENV[name] if env else "default port"
            port = parse_port(env, PORT_ENV[name]) if env else DEFAULT_PORTS[name]
        else:
            port = parse_port(port, flag)
        if port == 0:
            port = free_port(exclude=set(ports.values()))
        elif not port_free(port):
            raise StackError(
                f"port {port} for {name} is already in use",
                where=where,
                hint=f"pass {flag} 0 (or set {PORT_ENV[name]}=0) for a free port",
            )
        ports[name] = port
    return ports


def port_free(port: int) -> bool:
    """Nothing listens on `port`. A socket left in TIME_WAIT by a stack just stopped does not
    count: the servers bind with SO_REUSEADDR, so this probe does too."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(exclude: set[int]) -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port not in exclude:
            return port
    raise StackError("no free port found on 127.0.0.1")
