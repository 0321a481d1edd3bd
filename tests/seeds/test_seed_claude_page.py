"""The samples of Google's "Claude on Vertex AI" page, run as written against the local stack.

Changes to each sample, and only these (see conftest.py): the endpoint, credentials, the
project, and the retired model id `claude-3-5-sonnet-v2@20241022` (retired on Vertex AI;
the catalog's replacement `claude-sonnet-4-6` is used). The image sample downloads its
picture from Wikimedia, which no machine here reaches: the same kind of file (a JPEG) is
served from a loopback HTTP server instead, and the request.json placeholder image data
`iVBORw0KGg...` is replaced by a real PNG's base64, as the page tells the reader to do.
"""

from __future__ import annotations

import base64
import http.server
import json
import struct
import threading

import pytest
from seeds_helpers import LOCATION, TOKEN, adapt

RETIRED = "claude-3-5-sonnet-v2@20241022"
SUCCESSOR = "claude-sonnet-4-6"

# -- the page's samples, as on the page ---------------------------------------------------

REQUEST_JSON = """
{
  "anthropic_version": "vertex-2023-10-16",
  "messages": [
    {
      "role": "user",
      "content": [
        {
          "type": "image",
          "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": "iVBORw0KGg..."
          }
        },
        {
          "type": "text",
          "text": "What is in this image?"
        }
      ]
    }
  ],
  "max_tokens": 256,
  "stream": true
}
"""

CURL_STREAM = """
PROJECT_ID=your-gcp-project-id
MODEL=claude-3-5-sonnet-v2@20241022

# Pick one region:
LOCATION=us-east5
# LOCATION=europe-west1

curl -X POST \\
  -H "Authorization: Bearer $(gcloud auth print-access-token)" \\
  -H "Content-Type: application/json; charset=utf-8" \\
  -d @request.json \\
"https://$LOCATION-aiplatform.googleapis.com/v1/projects/$PROJECT_ID/locations/$LOCATION/publishers/anthropic/models/$MODEL:streamRawPredict"
"""

SDK_CREATE = """
from anthropic import AnthropicVertex

LOCATION="us-east5" # or "europe-west1"

client = AnthropicVertex(region=LOCATION, project_id="PROJECT_ID")

message = client.messages.create(
  max_tokens=1024,
  messages=[
    {
      "role": "user",
      "content": "Send me a recipe for banana bread.",
    }
  ],
  model="claude-3-5-sonnet-v2@20241022",
)
print(message.model_dump_json(indent=2))
"""

SDK_STREAM = """
from anthropic import AnthropicVertex

LOCATION="us-east5" # or "europe-west1"

client = AnthropicVertex(region=LOCATION, project_id="PROJECT_ID")

with client.messages.stream(
  max_tokens=1024,
  messages=[
    {
      "role": "user",
      "content": "Send me a recipe for banana bread.",
    }
  ],
  model="claude-3-5-sonnet-v2@20241022",
) as stream:
  for text in stream.text_stream:
    print(text)
"""

SDK_IMAGE = """
import base64
import httpx
from anthropic import AnthropicVertex

LOCATION="us-east5" # or "europe-west1"

client = AnthropicVertex(region=LOCATION, project_id="PROJECT_ID")

image1_url = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"
image1_media_type = "image/jpeg"
image1_data = base64.b64encode(httpx.get(image1_url).content).decode("utf-8")

message = client.messages.create(
  max_tokens=1024,
  messages=[
    {
      "role": "user",
      "content": [
        {
          "type": "image",
          "source": {
            "type": "base64",
            "media_type": image1_media_type,
            "data": image1_data,
          },
        },
        {
          "type": "text",
          "text": "Describe this image."
        }
      ],
    }
  ],
  model="claude-3-5-sonnet-v2@20241022",
)
print(message.model_dump_json(indent=2))
"""

# -- helpers ------------------------------------------------------------------------------


def _png(width: int = 64, height: int = 48) -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _jpeg(width: int = 640, height: int = 480) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 4) + b"\x00\x00" + sof + b"\xff\xd9"


def _sdk(sample: str, seeds) -> str:
    """The SDK sample with the local endpoint and a token instead of Application Default Credentials."""
    return adapt(
        sample,
        (
            'client = AnthropicVertex(region=LOCATION, project_id="PROJECT_ID")',
            f'client = AnthropicVertex(region=LOCATION, project_id="{seeds.project}",'
            f' base_url="{seeds.url}/v1", access_token="{TOKEN}")',
        ),
        (f'model="{RETIRED}"', f'model="{SUCCESSOR}"'),
    )


def _sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- the tests ----------------------------------------------------------------------------


def test_curl_stream_raw_predict_with_the_pages_request_json_streams_an_answer(seeds, tmp_path):
    image = base64.b64encode(_png()).decode()
    (tmp_path / "request.json").write_text(adapt(REQUEST_JSON, ('"iVBORw0KGg..."', json.dumps(image))))
    script = adapt(
        CURL_STREAM,
        ("PROJECT_ID=your-gcp-project-id", f"PROJECT_ID={seeds.project}"),
        (f"MODEL={RETIRED}", f"MODEL={SUCCESSOR}"),
        ("https://$LOCATION-aiplatform.googleapis.com", seeds.url),
        ("curl -X POST", "curl -sS --fail-with-body -X POST"),
    )
    events = _sse_events(seeds.run_shell(script, tmp_path))
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text.startswith("I can see 1 image (image/png).")
    assert events[0][1]["message"]["model"] == SUCCESSOR
    sent = [r for r in seeds.requests() if r["endpoint"] == "streamRawPredict"][-1]
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["path"].endswith(
        f"/locations/{LOCATION}/publishers/anthropic/models/{SUCCESSOR}:streamRawPredict"
    )


def test_curl_raw_predict_with_stream_false_answers_one_message(seeds, tmp_path):
    """The page: "Set stream to true to incrementally stream"; false (rawPredict) gives one JSON Message."""
    image = base64.b64encode(_png()).decode()
    (tmp_path / "request.json").write_text(
        adapt(REQUEST_JSON, ('"iVBORw0KGg..."', json.dumps(image)), ('"stream": true', '"stream": false'))
    )
    script = adapt(
        CURL_STREAM,
        ("PROJECT_ID=your-gcp-project-id", f"PROJECT_ID={seeds.project}"),
        (f"MODEL={RETIRED}", f"MODEL={SUCCESSOR}"),
        ("https://$LOCATION-aiplatform.googleapis.com", seeds.url),
        (":streamRawPredict", ":rawPredict"),
        ("curl -X POST", "curl -sS --fail-with-body -X POST"),
    )
    message = json.loads(seeds.run_shell(script, tmp_path))
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["text"].startswith("I can see 1 image (image/png).")


def test_anthropic_vertex_create_prints_the_message_json(seeds, tmp_path):
    out = seeds.run_python(_sdk(SDK_CREATE, seeds), tmp_path)
    message = json.loads(out)
    assert message["model"] == SUCCESSOR and message["stop_reason"] == "end_turn"
    assert message["content"][0]["type"] == "text" and message["content"][0]["text"]
    assert message["usage"]["input_tokens"] > 0


def test_anthropic_vertex_stream_prints_the_same_text_as_create(seeds, tmp_path):
    created = json.loads(seeds.run_python(_sdk(SDK_CREATE, seeds), tmp_path))
    streamed = seeds.run_python(_sdk(SDK_STREAM, seeds), tmp_path)
    # print(text) puts a newline after every text delta
    assert streamed.replace("\n", "") == created["content"][0]["text"]
    assert [r["endpoint"] for r in seeds.requests()][-1] == "streamRawPredict"


@pytest.fixture
def picture_url():
    """A loopback HTTP server with one JPEG, standing in for the page's Wikimedia picture."""
    jpeg = _jpeg()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Camponotus_flavomarginatus_ant.jpg"
    finally:
        server.shutdown()
        server.server_close()


def test_anthropic_vertex_image_sample_describes_the_downloaded_jpeg(seeds, tmp_path, picture_url):
    code = adapt(
        _sdk(SDK_IMAGE, seeds),
        (
            "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg",
            picture_url,
        ),
    )
    message = json.loads(seeds.run_python(code, tmp_path))
    assert message["content"][0]["text"].startswith("I can see 1 image (image/jpeg).")
    sent = [r for r in seeds.requests() if r["endpoint"] == "rawPredict"][-1]
    block = sent["body"]["messages"][0]["content"][0]
    assert block["source"]["media_type"] == "image/jpeg"
    assert base64.b64decode(block["source"]["data"]) == _jpeg()
