"""Batch tests: specs written on the fly, a fast simulated clock, knobs of the local server."""

from __future__ import annotations

import itertools
import json
import urllib.request
import uuid

import pytest
from batch_harness import FAST, TICKETS

_names = itertools.count()


@pytest.fixture(autouse=True)
def _own_state(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CLAUDE_JOBS_BATCH_CONCURRENCY", raising=False)


class Server:
    """The local Vertex server's batch knobs (POST /_local/config replaces `batch` whole)."""

    def __init__(self, url: str):
        self.url = url
        self.original = self._get()["batch"]

    def _get(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_local/config", timeout=10) as response:
            return json.loads(response.read())

    def batch(self, **knobs) -> None:
        body = json.dumps({"batch": {**self.original, **FAST, **knobs}}).encode()
        request = urllib.request.Request(
            f"{self.url}/_local/config",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def restore(self) -> None:
        body = json.dumps({"batch": self.original}).encode()
        request = urllib.request.Request(
            f"{self.url}/_local/config",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def server(local_stack, monkeypatch):
    """The local server running batch jobs 20x faster (FAST), and this process's runs polling them
    from 0.1 s on instead of 1 s (the waiter still backs off up to 4x the spec's poll_interval)."""
    from runner.batch import poll

    monkeypatch.setattr(poll, "FIRST_INTERVAL", 0.1)
    server = Server(local_stack.vertex_url)
    server.batch()
    yield server
    server.restore()


@pytest.fixture
def make_spec(tmp_path):
    """Write a batch spec YAML and load it; every call gets a unique name (hence revision)."""
    from runner.spec import load_spec

    def make(
        *,
        source: str = TICKETS,
        custom_id: str = "t-{{ id }}",
        destination: str | None = None,
        input: str = "gs://claude-jobs-local/batch-tests",
        output: str | None = None,
        labels: dict | None = None,
        batch: dict | None = None,
        extra: str = "",
        region: str = "us-east5",
    ):
        name = f"bt-{next(_names)}-{uuid.uuid4().hex[:6]}"
        destination = destination or f"gs://claude-jobs-local/batch-results/{name}"
        batch_keys = {
            "input": input,
            "poll_interval": 1,
            **({"output": output} if output else {}),
            **(batch or {}),
        }
        lines = [
            f"name: {name}",
            "model: claude-haiku-4-5@20251001",
            "mode: batch",
            f"region: {region}",
            "request:",
            "  max_tokens: 32",
            "template:",
            f"  source: {source}",
            f'  custom_id: "{custom_id}"',
            "  messages:",
            "    - role: user",
            '      content: "{{ body }}"',
            f"destination: {destination}",
            "batch:",
        ]
        lines += [f"  {k}: {v}" for k, v in batch_keys.items()]
        if labels:
            lines.append("labels:")
            lines += [f"  {k}: {v}" for k, v in labels.items()]
        path = tmp_path / f"{name}.yaml"
        path.write_text("\n".join(lines) + "\n" + extra)
        return load_spec(str(path))

    return make


@pytest.fixture
def source_ids(local_stack):
    from runner.dataio.sources import split_gs

    bucket, name = split_gs(TICKETS)
    data = local_stack.storage().bucket(bucket).blob(name).download_as_bytes()
    return sorted(f"t-{json.loads(line)['id']}" for line in data.splitlines() if line.strip())
