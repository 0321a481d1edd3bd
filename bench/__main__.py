"""`python -m bench [NAME ...]`: run every bench/bench_*.py (or the named ones) in turn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    failed = []
    for name in names:
        module = f"bench.bench_{name.removeprefix('bench_')}"
        print(f"\n=== {module}", flush=True)
        if subprocess.call([sys.executable, "-m", module], cwd=HERE.parent) != 0:
            failed.append(module)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
