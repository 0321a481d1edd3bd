"""Stream test helpers: a handle on a local Vertex AI server, and specs written to a folder."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from runner.clients import Target

MODEL = "claude-haiku-4-5@20251001"


def post(url: str, path: str, data: dict) -> None:
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


def get(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as r:
        return json.loads(r.read())


class Vertex:
    """A running local Vertex AI server plus its /_local knobs."""

    def __init__(self, process):
        self.process = process
        self.url = process.url

    def configure(self, **changes) -> None:
        self._post("/_local/config", changes)
        self._post("/_local/reset", {})

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_local/stats", timeout=5) as r:
            return json.loads(r.read())

    def _post(self, path: str, data: dict) -> None:
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.status == 200, r.read()

    def target(self, stack: Target | None = None) -> Target:
        if stack is None:
            return Target(project="p", local=True, vertex_url=self.url)
        return Target(
            project=stack.project,
            local=True,
            vertex_url=self.url,
            storage_url=stack.storage_url,
            bigquery_url=stack.bigquery_url,
        )


QUIET = {
    "use_catalog_quotas": False,
    "quotas": {},
    "faults": {"seed": 0, "rates": {}},
    "time_to_first_token": 0.0,
    "tokens_per_second": 0.0,
    "disabled_models": [],
    "scripted_replies": None,
}


def lifted_quotas(spec):
    """`spec` with its stream quotas far above what a test sends: for tests of something other
    than the limiter, which the catalog's quotas would otherwise pace (20 rows: about 20 s)."""
    from dataclasses import replace

    stream = replace(
        spec.stream,
        requests_per_minute=600_000,
        input_tokens_per_minute=10**9,
        output_tokens_per_minute=10**9,
    )
    return replace(spec, stream=stream)


def write_spec(
    folder: Path,
    rows: int = 20,
    *,
    name: str = "t",
    destination: str = "out/r.jsonl",
    stream: dict | None = None,
    budget: dict | None = None,
    max_tokens: int = 32,
    extra_rows: list[dict] | None = None,
    output: dict | None = None,
    model: str = MODEL,
) -> Path:
    """A template spec over `rows` generated rows (plus `extra_rows`), returning its path."""
    data = folder / "rows.jsonl"
    with open(data, "w") as f:
        for i in range(rows):
            f.write(json.dumps({"id": f"r{i:06d}", "q": f"question number {i}"}) + "\n")
        for row in extra_rows or ():
            f.write(json.dumps(row) + "\n")
    spec = {
        "name": name,
        "model": model,
        "mode": "stream",
        "request": {"max_tokens": max_tokens},
        "template": {
            "source": "rows.jsonl",
            "custom_id_column": "id",
            "messages": [{"role": "user", "content": "{{ q }}"}],
        },
        "destination": destination,
        "stream": {
            "concurrency": 16,
            "max_retries": 4,
            "requests_per_minute": 600_000,
            "input_tokens_per_minute": 10**9,
            "output_tokens_per_minute": 10**9,
            **(stream or {}),
        },
    }
    if budget:
        spec["budget"] = budget
    if output:
        spec["output"] = output
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec, indent=1))
    return path
