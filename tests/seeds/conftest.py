"""Run the code samples of Google's two Claude pages against the session's local stack.

The pages (kept in the project's shared seeds folder): "Claude on Vertex AI" (curl
`streamRawPredict` with request.json, `AnthropicVertex` create, stream and image) and
"Batch predictions with Anthropic Claude models" (google-genai `batches.create` from
BigQuery and Cloud Storage, the REST create and get bodies with curl).

Each test keeps the sample's text as on the page and changes only what the brief allows,
through `adapt()`, which fails when a replaced text is no longer in the sample (so the
sample cannot drift silently): the endpoint (`https://LOCATION-aiplatform.googleapis.com`
becomes the local server), credentials (a `gcloud` on PATH that prints a local token; the
Python clients get a token instead of Application Default Credentials), the project, the
page's own placeholders (PROJECT_ID, LOCATION, ...), and retired model ids (replaced by
their successors in the catalog). Python samples run as `python sample.py` in a
subprocess, shell samples with bash, exactly as a reader would run them.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from seeds_helpers import TOKEN, Seeds


def _post_config(url: str, changes: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/_local/config",
        data=json.dumps(changes).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def _gcloud(tmp_path_factory) -> Path:
    """A `gcloud` whose `auth print-access-token` prints a local token (the samples' credentials)."""
    folder = tmp_path_factory.mktemp("seeds-bin")
    script = folder / "gcloud"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "auth print-access-token" ]; then echo ' + TOKEN + "; exit 0; fi\n"
        'echo "this local gcloud only prints an access token" >&2; exit 2\n'
    )
    script.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def seeds(local_stack, _gcloud):
    """The session stack's Vertex server with batch jobs sped up for the module (restored after)."""
    url = local_stack.vertex_url
    with urllib.request.urlopen(f"{url}/_local/config", timeout=10) as response:
        saved = json.loads(response.read())["batch"]
    _post_config(url, {"batch": {**saved, "speed": 20.0}})
    try:
        yield Seeds(url, local_stack.project, _gcloud)
    finally:
        _post_config(url, {"batch": saved})
