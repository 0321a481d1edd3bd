"""Cold-start `claude-jobs validate` of 50 specs, as a ratio to importing its two main libraries.

    python -m bench.bench_validate [--specs 50] [--repeat 5]

A throw-away repository is filled with copies of jobs/examples (their data and
images too), renamed so every spec is distinct. Each measurement is a fresh
interpreter (a subprocess), as in CI:

- baseline: `python -c "import yaml, jsonschema"` — the floor any validator in
  Python pays;
- validate 1 spec, and validate N specs (text output), and N specs with --format json.

Target (spec issue): 50 specs well under 2 s from a cold start; the ratio to the
baseline says how much of that is ours. Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "jobs" / "examples"
TARGET_S = 2.0
VALIDATE = "import sys; from runner.cli import main; main(sys.argv[1:])"


def build_tree(root: Path, count: int) -> Path:
    """`root/jobs/` with `count` specs cycling through the examples, plus their data and images."""
    (root / ".git").mkdir()
    jobs = root / "jobs"
    shutil.copytree(EXAMPLES / "data", jobs / "data")
    shutil.copytree(EXAMPLES / "images", jobs / "images")
    examples = sorted(EXAMPLES.glob("*.yaml"))
    for i in range(count):
        source = examples[i % len(examples)]
        text = source.read_text(encoding="utf-8")
        name = f"{source.stem}-{i:03d}"
        text = text.replace(f"name: {source.stem}\n", f"name: {name}\n")
        (jobs / f"{name}.yaml").write_text(text, encoding="utf-8")
    return jobs


def timed(argv: list[str], cwd: Path) -> tuple[float, int]:
    # Bytecode caches as an installed package has them: a cold process, not a first-ever run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0,):
        sys.stderr.write(result.stderr.decode(errors="replace"))
    return elapsed, result.returncode


def median_of(argv: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    timed(argv, cwd)  # warm the OS file cache and write .pyc files once: we measure process cold starts
    runs = [timed(argv, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        jobs = build_tree(root, args.specs)
        one = sorted(jobs.glob("*.yaml"))[0]
        cases = [
            ("baseline: import yaml, jsonschema", [python, "-c", "import yaml, jsonschema"]),
            ("validate 1 spec", [python, "-c", VALIDATE, "validate", str(one)]),
            (f"validate {args.specs} specs", [python, "-c", VALIDATE, "validate", str(jobs)]),
            (
                f"validate {args.specs} specs --format json",
                [python, "-c", VALIDATE, "validate", "--format", "json", str(jobs)],
            ),
        ]
        results = [(label, *median_of(command, root, args.repeat)) for label, command in cases]
    baseline = results[0][1]
    print(f"cold starts, median of {args.repeat} runs (python {sys.version.split()[0]})")
    print(f"{'case':<42} {'seconds':>8} {'x baseline':>11} {'exit':>5}")
    for label, seconds, code in results:
        print(f"{label:<42} {seconds:>8.3f} {seconds / baseline:>11.2f} {code:>5}")
    full = results[2][1]
    verdict = "ok" if full < TARGET_S else "SLOWER THAN TARGET"
    print(
        f"target: {args.specs} specs well under {TARGET_S:.0f} s -> {full:.3f} s ({verdict}); "
        f"per extra spec ~{(full - results[1][1]) / max(args.specs - 1, 1) * 1000:.1f} ms"
    )
    return 0 if all(code == 0 for _, _, code in results) else 1


if __name__ == "__main__":
    sys.exit(main())
