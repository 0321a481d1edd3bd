"""Fixtures for the local Vertex AI server: one real server process per test session.

Each test starts from the default config, an empty request log and zeroed
stats (POST /_local/config and /_local/reset), so tests never see each other.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from pathlib import Path

import pytest

from runner.local.config import ServerConfig
from runner.local.server import start_server_process

HAIKU = "claude-3-5-haiku@20241022"


def _call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@dataclasses.dataclass
class VertexServer:
    """A handle on the running server: its URL, what it received, and its knobs."""

    url: str
    project: str = "test-project"
    clients: list = dataclasses.field(default_factory=list)

    def requests(self) -> list[dict]:
        return _call(f"{self.url}/_local/requests")["requests"]

    def stats(self) -> dict:
        return _call(f"{self.url}/_local/stats")

    def configure(self, **changes) -> dict:
        return _call(f"{self.url}/_local/config", "POST", changes)

    def reset(self) -> None:
        _call(f"{self.url}/_local/config", "POST", ServerConfig().to_dict())
        _call(f"{self.url}/_local/reset", "POST", {})

    def client(self, region: str = "us-east5", **options):
        """The official async client, unmodified, pointed at this server (no SDK retries by default)."""
        from anthropic import AsyncAnthropicVertex

        options.setdefault("max_retries", 0)
        client = AsyncAnthropicVertex(
            region=region,
            project_id=self.project,
            base_url=f"{self.url}/v1",
            access_token="test-token",
            **options,
        )
        self.clients.append(client)
        return client

    def predict_url(self, model: str = HAIKU, action: str = "rawPredict", region: str = "us-east5") -> str:
        return (
            f"{self.url}/v1/projects/{self.project}/locations/{region}"
            f"/publishers/anthropic/models/{model}:{action}"
        )


@pytest.fixture(scope="session")
def _vertex_process(tmp_path_factory):
    state_dir: Path = tmp_path_factory.mktemp("vertex-state")
    with start_server_process(None, state_dir) as server:
        yield server


@pytest.fixture
async def vertex(_vertex_process):
    server = VertexServer(_vertex_process.url)
    server.reset()
    yield server
    for client in server.clients:  # inside the test's event loop, so nothing leaks past it
        await client.close()
    server.reset()


@pytest.fixture
def body() -> dict:
    """A minimal valid Vertex rawPredict body (no model: it is in the URL)."""
    return {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Name three rivers."}],
    }
