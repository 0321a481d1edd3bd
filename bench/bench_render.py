"""Render templated rows to Vertex batch input lines: rows/s and peak RSS, ours vs a naive baseline.

    python -m bench.bench_render [--sizes 100000,1000000] [--skip-naive-above N]

For each size a JSONL source is generated once; then each implementation runs in
its own subprocess (so peak RSS is its own), rendering every row to a
`{"custom_id", "request"}` line written to /dev/null:

- ours:  `runner.render.requests.render_requests` + `orjson.dumps` per line, streaming;
- naive: `json` + a Jinja `Environment` rendering every string of a deep copy of
  the template per row (templates compiled once), all requests built in a list first.

Peak RSS is polled with psutil from the parent and cross-checked with the child's
own high-water mark. The machine may be shared: ours runs `--repeat` times (best
rows/s, worst peak RSS are kept); the naive baseline, minutes long at 1M, runs once. Targets (batch issue): >= 100k rows/s, peak RSS < 300 MB,
RSS(1M)/RSS(100k) <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM = "You triage support tickets for {{ product }}. Answer with one word."
MESSAGES = [
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "Priority: {{ priority }}\nTicket {{ id }}:\n{{ body }}",
                "cache_control": None,
            },
            {"type": "text", "text": "Reply with bug, billing, or other."},
        ],
    }
]
MESSAGES[0]["content"][0].pop("cache_control")
CUSTOM_ID = "ticket-{{ id }}"
REQUEST = {
    "max_tokens": 16,
    "temperature": 0,
    "tools": [
        {
            "name": "classify",
            "description": "Record the class",
            "input_schema": {"type": "object", "properties": {"label": {"type": "string"}}},
        }
    ],
}
WORDS = [
    "login",
    "fails",
    "after",
    "update",
    "the",
    "page",
    "spins",
    "forever",
    "invoice",
    "charged",
    "twice",
    "refund",
    "please",
    "export",
    "button",
    "missing",
    "crash",
    "on",
    "save",
    "dark",
    "mode",
    "unreadable",
]


def generate(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    products = ["Acme Mail", "Acme Drive", "Acme Docs"]
    with open(path, "w") as fh:
        for i in range(rows):
            body = " ".join(rnd.choice(WORDS) for _ in range(20))
            fh.write(
                json.dumps(
                    {
                        "id": i,
                        "product": products[i % 3],
                        "priority": "high" if i % 7 == 0 else "normal",
                        "body": body,
                    }
                )
            )
            fh.write("\n")


def run_ours(source: Path) -> int:
    import orjson

    from runner.render.requests import render_requests
    from runner.spec.model import JobSpec, SourceRef, Template

    spec = JobSpec(
        path=source.parent / "job.yaml",
        text="",
        name="bench",
        model="m",
        mode="batch",
        destination="out.jsonl",
        request=REQUEST,
        template=Template(
            source=SourceRef("file", source.name, source),
            messages=MESSAGES,
            custom_id_template=CUSTOM_ID,
            overrides={"system": SYSTEM},
        ),
    )
    dumps = orjson.dumps
    count = 0
    with open(os.devnull, "wb", buffering=1 << 20) as out:
        write = out.write
        for request in render_requests(spec):
            write(dumps({"custom_id": request.custom_id, "request": request.body}))
            write(b"\n")
            count += 1
    return count


def run_naive(source: Path) -> int:
    import copy

    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    compiled: dict[str, jinja2.Template] = {}

    def render(value, row):
        if isinstance(value, str):
            if value not in compiled:
                compiled[value] = env.from_string(value)
            return compiled[value].render(row)
        if isinstance(value, dict):
            return {k: render(v, row) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v, row) for v in value]
        return value

    requests = []
    with open(source) as fh:
        for line in fh:
            row = json.loads(line)
            body = {
                "anthropic_version": "vertex-2023-10-16",
                **copy.deepcopy(REQUEST),
                "system": render(SYSTEM, row),
                "messages": render(copy.deepcopy(MESSAGES), row),
            }
            requests.append({"custom_id": render(CUSTOM_ID, row), "request": body})
    with open(os.devnull, "w") as out:
        for request in requests:
            out.write(json.dumps(request) + "\n")
    return len(requests)


def worker(kind: str, source: Path) -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = (run_ours if kind == "ours" else run_naive)(source)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": elapsed, "cpu_seconds": cpu, "peak_mb": peak_kb / 1024}))


def measure(kind: str, source: Path) -> dict:
    import psutil

    proc = psutil.Popen(
        [sys.executable, "-m", "bench.bench_render", "--worker", kind, str(source)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    polled = 0
    while proc.poll() is None:
        try:
            polled = max(polled, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = max(result["peak_mb"], polled / 2**20)
    result["rows_per_s"] = result["rows"] / result["seconds"]
    result["rows_per_cpu_s"] = result["rows"] / result["cpu_seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--skip-naive-above", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=["ours", "naive"])
    parser.add_argument("source", nargs="?")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, Path(args.source))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        for size in sizes:
            source = Path(tmp) / f"rows-{size}.jsonl"
            generate(source, size)
            for kind in ("ours", "naive"):
                if kind == "naive" and size > args.skip_naive_above:
                    continue
                runs = [measure(kind, source) for _ in range(args.repeat if kind == "ours" else 1)]
                r = results[kind, size] = max(runs, key=lambda run: run["rows_per_s"])
                r["rows_per_cpu_s"] = max(run["rows_per_cpu_s"] for run in runs)
                r["peak_mb"] = max(run["peak_mb"] for run in runs)
                print(
                    f"  {kind:5} {size:>9,} rows: {r['rows_per_s']:>9,.0f} rows/s "
                    f"({r['rows_per_cpu_s']:,.0f} per CPU second), "
                    f"peak RSS {r['peak_mb']:6.1f} MB",
                    flush=True,
                )
            source.unlink()
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        "| rows | ours rows/s (per CPU s) | naive rows/s (per CPU s) | speed-up | "
        "ours peak RSS | naive peak RSS | RSS ratio |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        ours, naive = results[("ours", size)], results.get(("naive", size))
        cells = [f"{size:,}", f"{ours['rows_per_s']:,.0f} ({ours['rows_per_cpu_s']:,.0f})"]
        if naive:
            cells += [
                f"{naive['rows_per_s']:,.0f} ({naive['rows_per_cpu_s']:,.0f})",
                f"{ours['rows_per_s'] / naive['rows_per_s']:.1f}x",
                f"{ours['peak_mb']:.0f} MB",
                f"{naive['peak_mb']:.0f} MB",
                f"{naive['peak_mb'] / ours['peak_mb']:.1f}x",
            ]
        else:
            cells += ["-", "-", f"{ours['peak_mb']:.0f} MB", "-", "-"]
        print("| " + " | ".join(cells) + " |")
    if len(sizes) >= 2:
        small, large = results[("ours", sizes[0])], results[("ours", sizes[-1])]
        print(
            f"\nours: RSS({sizes[-1]:,})/RSS({sizes[0]:,}) = "
            f"{large['peak_mb'] / small['peak_mb']:.2f} (target <= 1.2); "
            f"slowest {min(r['rows_per_s'] for (k, _), r in results.items() if k == 'ours'):,.0f} "
            f"rows/s, {min(r['rows_per_cpu_s'] for (k, _), r in results.items() if k == 'ours'):,.0f}"
            " per CPU second (target >= 100,000); peak RSS "
            f"{max(r['peak_mb'] for (k, _), r in results.items() if k == 'ours'):.0f} MB "
            "(target < 300 MB)"
        )


if __name__ == "__main__":
    main()
