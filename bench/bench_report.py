"""The results report at 100k and 1M result rows: page size, peak RSS and rows/s, ours vs naive.

`python -m bench.bench_report [--rows 100000,1000000]`

Each size gets a stream ledger (the store `claude-jobs results` and `report` read) of typed
results: a JSON answer per row with an enum, an integer, a boolean and a free-text field,
1% errored rows (three error types), latencies and retries. Each measurement runs in a fresh
child process, so its peak RSS (ru_maxrss) is its own:

- ours: `iter_results` -> `ReportStats` (one pass) -> `render_page` -> the page file.
- naive: every row read into a list, the same statistics computed over the list, and every
  row embedded in the page as JSON for in-browser charts (what a "load it all" report does).

Targets: page < 5 MB and peak RSS < 300 MB at 1M rows; RSS(1M)/RSS(100k) close to 1.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import run_child

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "how-to", "account"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
    },
    "required": ["category", "priority", "urgent", "summary"],
}
SPEC = """\
name: bench-report
model: claude-haiku-4-5@20251001
mode: stream
prompts:
  - custom_id: one
    messages: [{role: user, content: hi}]
destination: results/bench-report.jsonl
"""
PROJECT = "bench"
ERRORS = ("overloaded_error", "api_error", "invalid_request_error")


def result_row(i: int) -> dict:
    failed = i % 100 == 37
    base = {
        "custom_id": f"ticket-{i:08d}",
        "attempts": 1 + (i % 17 == 0),
        "latency_ms": 300.0 + (i * 7919) % 2500 + (i % 1000 == 0) * 20_000,
        "processed_time": f"2026-12-02T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}Z",
        "mode": "stream",
    }
    if failed:
        kind = ERRORS[i % 3]
        return base | {
            "status": "errored",
            "error": {"type": kind, "message": f"{kind}: the call failed", "code": 529},
        }
    answer = {
        "category": ("billing", "bug", "how-to", "account")[i % 4],
        "priority": 1 + (i * 31) % 4,
        "urgent": i % 5 == 0,
        "summary": f"customer reports problem {i % 5000} with the export after the update",
    }
    out = 20 + i % 40
    return base | {
        "status": "succeeded",
        "response": {
            "id": f"msg_{i:08d}",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": json.dumps(answer)}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 80 + i % 50, "output_tokens": out},
        },
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 80 + i % 50, "output_tokens": out},
        "answer": answer,  # as runner.dataio.results shapes a typed row
        "model": "claude-haiku-4-5@20251001",
    }


def build_ledger(home: Path, n: int) -> Path:
    """A stream ledger holding `n` results, written directly (fast) in the runner's schema."""
    import orjson

    from runner.stream.ledger import SCHEMA as LEDGER_SCHEMA

    path = home / "stream" / PROJECT / "bench-report" / "ledger.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(LEDGER_SCHEMA)
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("spec", "bench-report"), ("revision", "0" * 64), ("created", "")]
    )
    conn.execute("INSERT INTO parts VALUES (1, 'written')")
    batch = []
    for i in range(n):
        row = result_row(i)
        usage = row.get("usage") or {}
        batch.append(
            (
                row["custom_id"],
                i,
                1,
                row["status"],
                usage.get("input_tokens", 0),
                usage.get("output_tokens", 0),
                orjson.dumps(row),
            )
        )
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
    conn.commit()
    conn.close()
    return path


def child(impl: str, workdir: str) -> dict:
    from runner.gitops.report import SpecReport
    from runner.gitops.report_page import render_page
    from runner.gitops.report_stats import ReportStats
    from runner.spec import load_spec
    from runner.stream import iter_results

    os.environ["CLAUDE_JOBS_HOME"] = workdir
    spec = load_spec(Path(workdir) / "spec.yaml")
    page = Path(workdir) / f"{impl}.html"
    started = time.perf_counter()
    if impl == "ours":
        stats = ReportStats(SCHEMA).add_all(iter_results(spec, PROJECT))
        page.write_text(render_page(SpecReport(spec=spec, target="bench", stats=stats)))
        rows = stats.total
    else:
        import orjson

        everything = list(iter_results(spec, PROJECT))
        stats = ReportStats(SCHEMA).add_all(everything)
        html = render_page(SpecReport(spec=spec, target="bench", stats=stats))
        data = orjson.dumps([r.to_dict() for r in everything]).decode()
        page.write_text(html.replace("</body>", f'<script type="application/json">{data}</script></body>'))
        rows = len(everything)
    elapsed = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "page_mb": page.stat().st_size / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(impl: str, workdir: str) -> dict:
    return run_child("bench.bench_report", impl, workdir, label=impl)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--build"]:
        build_ledger(Path(argv[2]), int(argv[1]))
        return 0
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], argv[2])))
        return 0
    sizes = [100_000, 1_000_000]
    if argv[:1] == ["--rows"]:
        sizes = [int(s) for s in argv[1].split(",")]
    results: dict[int, dict[str, dict]] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-report-") as workdir:
            (Path(workdir) / ".git").mkdir()  # the repository root the spec's paths stay inside
            (Path(workdir) / "spec.yaml").write_text(SPEC)
            t0 = time.perf_counter()
            # In its own process: children forked from a big parent would inherit its peak RSS.
            subprocess.run(
                [sys.executable, "-m", "bench.bench_report", "--build", str(n), workdir], check=True
            )
            print(f"{n:,} rows: ledger written in {time.perf_counter() - t0:.1f} s", flush=True)
            results[n] = {impl: measure(impl, workdir) for impl in ("ours", "naive")}
        for impl in ("ours", "naive"):
            r = results[n][impl]
            print(
                f"  {impl:5}: {r['rows_per_s']:>9,.0f} rows/s  page {r['page_mb']:7.2f} MB  "
                f"peak RSS {r['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
        ours, naive = results[n]["ours"], results[n]["naive"]
        print(
            f"  ours/naive: page {ours['page_mb'] / naive['page_mb']:.4f}x, "
            f"peak RSS {ours['peak_rss_mb'] / naive['peak_rss_mb']:.3f}x, "
            f"rows/s {ours['rows_per_s'] / naive['rows_per_s']:.2f}x"
        )
    if len(sizes) >= 2:
        small, big = results[sizes[0]]["ours"], results[sizes[-1]]["ours"]
        print(
            f"RSS({sizes[-1]:,})/RSS({sizes[0]:,}) = {big['peak_rss_mb'] / small['peak_rss_mb']:.2f}; "
            f"page({sizes[-1]:,})/page({sizes[0]:,}) = {big['page_mb'] / small['page_mb']:.2f}"
        )
    big = results[sizes[-1]]["ours"]
    met = big["page_mb"] < 5 and big["peak_rss_mb"] < 300
    print(
        f"target at {sizes[-1]:,} rows: page < 5 MB and peak RSS < 300 MB: "
        f"{'met' if met else 'NOT met'} ({big['page_mb']:.2f} MB, {big['peak_rss_mb']:.0f} MB)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
