"""`claude-jobs local up` from a fresh stack folder, as a ratio to bqemulator's own start.

    python -m bench.bench_local_up [--repeat 3]

Each measurement is a fresh `claude-jobs local up` (all ports free) into a new
folder, until it returns with the three services ready and seeded, then
`local down`. Variants: with DuckDB's extensions already installed under
$HOME (the usual case), and with an empty $HOME (a fresh machine: the stack
installs them itself). Baseline, measured in the same run: `bqemulator start`
alone until its REST port answers — the slowest part, which `up` cannot beat.

Target (local stack issue): under 10 s from a fresh clone. Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 10.0
CLI = "import sys; from runner.cli import main; main(sys.argv[1:])"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=0.5).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def bqemulator_alone(work: Path) -> float:
    port = _free_port()
    data = work / "bq-alone"
    data.mkdir()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner.local.emulators",
            "bigquery",
            "--rest-host",
            "127.0.0.1",
            "--rest-port",
            str(port),
            "--grpc-host",
            "127.0.0.1",
            "--grpc-port",
            str(_free_port()),
            "--project",
            "p",
            "--persistent",
            "--data-dir",
            str(data),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):
            if _answers(f"http://127.0.0.1:{port}/bigquery/v2/projects/p/datasets"):
                return time.perf_counter() - start
            time.sleep(0.05)
        raise SystemExit("bqemulator did not start within 60 s")
    finally:
        proc.terminate()
        proc.wait(10)


def local_up(work: Path, home: Path | None) -> tuple[float, float]:
    """Seconds for `local up` and for `local down` in a new stack folder."""
    folder = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "CLAUDE_JOBS_LOCAL_DIR": str(folder)}
    if home is not None:
        env["HOME"] = str(home)
    argv = [
        sys.executable,
        "-c",
        CLI,
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
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    up = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, "local", "down"], cwd=REPO, env=env, capture_output=True)
    down = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"local up failed: {result.stderr.strip()}")
    return up, down


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-local-up-") as tmp:
        work = Path(tmp)
        baseline = statistics.median(bqemulator_alone(work) for _ in range(args.repeat))
        warm = [local_up(work, None) for _ in range(args.repeat)]
        fresh = [local_up(work, Path(tempfile.mkdtemp(dir=work))) for _ in range(args.repeat)]
    up_warm = statistics.median(t for t, _ in warm)
    up_fresh = statistics.median(t for t, _ in fresh)
    down = statistics.median(t for _, t in warm + fresh)
    print(f"baseline: bqemulator alone until ready   {baseline:6.2f} s")
    print(f"local up (extensions installed)          {up_warm:6.2f} s  ({up_warm / baseline:.2f}x)")
    print(f"local up (fresh $HOME)                   {up_fresh:6.2f} s  ({up_fresh / baseline:.2f}x)")
    print(f"local down                               {down:6.2f} s")
    print(
        f"target: local up < {TARGET_S:.0f} s -> {'met' if max(up_warm, up_fresh) < TARGET_S else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
