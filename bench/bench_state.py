"""Stream runs with the state in Cloud Storage against the same runs with the local state folder.

    python -m bench.bench_state [--rows 1000] [--concurrency 32] [--rounds 4] [--latency 0.0]

One local stack (its fake-gcs-server holds the `gs://` state location) and one
local Vertex AI server with no latency, no quota and no faults: the harshest case
for remote state, since nothing else takes time. Each round runs the same spec
(fresh state each time) once with the local state folder and once with
`CLAUDE_JOBS_STATE=gs://...`, alternating which goes first; the best wall time of
each is kept, and the median reported too.

Target (shared-state issue): remote state at most 10 % slower than local state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.bench_stream import server, target_for, write_spec


def one_run(
    folder: Path, url: str, storage_url: str, rows: int, concurrency: int, state: str | None
) -> float:
    from dataclasses import replace

    from runner.records import RunOptions
    from runner.spec import load_spec
    from runner.stream import run_stream

    os.environ["CLAUDE_JOBS_HOME"] = str(folder / "state")
    os.chdir(folder)
    limits = {
        "concurrency": concurrency,
        "requests_per_minute": 10**7,
        "input_tokens_per_minute": 10**10,
        "output_tokens_per_minute": 10**10,
    }
    spec = load_spec(write_spec(folder, rows, 32, limits))
    target = replace(target_for(url), storage_url=storage_url, project="bench")
    started = time.monotonic()
    summary = run_stream(spec, target, RunOptions(progress=False, state=state))
    elapsed = time.monotonic() - started
    assert summary.succeeded == rows, summary
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.0, help="simulated time to first token, s")
    args = parser.parse_args(argv)

    from runner.local import stack

    work = Path(tempfile.mkdtemp(prefix="bench-state-"))
    os.environ["CLAUDE_JOBS_LOCAL_DIR"] = str(work / "stack")
    endpoints = stack.up(vertex_port=0, storage_port=0, bigquery_port=0, bigquery_grpc_port=0, owned=True)
    times: dict[str, list[float]] = {"local": [], "gcs": []}
    try:
        with server({"time_to_first_token": args.latency}, work / "vertex") as vertex:
            for i in range(args.rounds):
                order = ("local", "gcs") if i % 2 == 0 else ("gcs", "local")
                for kind in order:
                    folder = Path(tempfile.mkdtemp(dir=work, prefix=f"{kind}-{i}-"))
                    state = (
                        f"gs://claude-jobs-local/bench-state/{uuid.uuid4().hex[:8]}"
                        if kind == "gcs"
                        else None
                    )
                    times[kind].append(
                        one_run(folder, vertex.url, endpoints.storage, args.rows, args.concurrency, state)
                    )
    finally:
        stack.down()
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "scenario": "state",
        "rows": args.rows,
        "latency_s": args.latency,
        "local_s": round(best["local"], 2),
        "gcs_s": round(best["gcs"], 2),
        "overhead": best["gcs"] / best["local"] - 1,
        "median_overhead": median["gcs"] / median["local"] - 1,
        "rounds": {k: [round(t, 2) for t in v] for k, v in times.items()},
    }
    print(json.dumps(result), flush=True)
    print(f"\n| stream run, {args.rows} rows, TTFT {args.latency}s | local state | gs:// state | overhead |")
    print("| --- | --- | --- | --- |")
    print(
        f"| wall time, best of {args.rounds} | {result['local_s']} s | {result['gcs_s']} s | {result['overhead']:+.1%} |"
    )
    print(
        f"| wall time, median | {median['local']:.2f} s | {median['gcs']:.2f} s | {result['median_overhead']:+.1%} |"
    )
    return 0 if result["overhead"] <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
