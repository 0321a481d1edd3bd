"""Benchmarks: each prints ratios against a baseline measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(module: str, *args: str, label: str) -> dict:
    """Run `python -m MODULE --child ARGS...` in a fresh process (so its peak RSS is its own) and
    return the JSON document its last stdout line holds; a failed child ends the bench with its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
