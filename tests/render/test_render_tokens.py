"""Token estimates from text and image headers, and exact counts through the official client."""

from __future__ import annotations

import base64

import pytest
from aiohttp import web
from render_helpers import gif, jpeg, png, webp

from runner.image_headers import image_size
from runner.render.token_estimates import count_tokens, estimate_input_tokens, tokens_for_size


def _webp_lossless(width, height):
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")


def _webp_lossy(width, height):
    return (
        b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00"
        + b"\x00\x00\x00\x9d\x01\x2a"
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
    )


@pytest.mark.parametrize(
    "data,size",
    [
        (png(800, 600), (800, 600)),
        (gif(40, 30), (40, 30)),
        (jpeg(1024, 768), (1024, 768)),
        (webp(300, 200), (300, 200)),
        (_webp_lossless(123, 45), (123, 45)),
        (_webp_lossy(640, 480), (640, 480)),
    ],
)
def test_image_size_is_read_from_the_header(data, size):
    assert image_size(data) == size


def test_image_tokens_follow_anthropics_formula_and_resizing():
    assert tokens_for_size(200, 200) == 54  # ceil(40000 / 750)
    assert tokens_for_size(1000, 1000) == 1334
    assert tokens_for_size(3136, 784) == tokens_for_size(1568, 392) == 820  # long edge capped
    assert tokens_for_size(4000, 4000) == 1600  # ~1.15 megapixel cap


def test_estimate_counts_text_at_3_5_characters_a_token_rounded_up():
    body = {
        "system": "x" * 10,
        "messages": [
            {"role": "user", "content": "y" * 25},
            {"role": "assistant", "content": [{"type": "text", "text": "z" * 1}]},
        ],
    }
    assert estimate_input_tokens(body) == 11  # ceil(36 / 3.5)


def test_estimate_adds_each_image_from_its_real_size_even_behind_large_exif():
    image = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/jpeg",
            "data": base64.b64encode(jpeg(1000, 1000)).decode(),
        },
    }
    body = {"messages": [{"role": "user", "content": [image, image]}]}
    assert estimate_input_tokens(body) == 2 * 1334


async def test_count_tokens_posts_the_vertex_count_tokens_route_with_the_model_in_the_body():
    from anthropic import AsyncAnthropicVertex

    seen = []

    async def handle(request):
        seen.append((request.path, await request.json(), request.headers.get("Authorization")))
        return web.json_response({"input_tokens": 42})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        client = AsyncAnthropicVertex(
            region="us-east5",
            project_id="p",
            access_token="tok",
            base_url=f"http://127.0.0.1:{port}/v1",
            max_retries=0,
        )
        body = {
            "anthropic_version": "vertex-2023-10-16",
            "max_tokens": 100,
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
        }
        assert await count_tokens(client, "claude-3-5-haiku@20241022", body) == 42
        await client.close()
    finally:
        await runner.cleanup()
    [(path, sent, auth)] = seen
    assert path == "/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict"
    assert sent == {
        "model": "claude-3-5-haiku@20241022",
        "anthropic_version": "vertex-2023-10-16",
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert auth == "Bearer tok"


async def test_count_tokens_refusal_is_a_remote_error_with_its_status():
    from anthropic import AsyncAnthropicVertex

    from runner.errors import RemoteError

    async def handle(request):
        return web.json_response(
            {"error": {"code": 400, "message": "model not enabled", "status": "FAILED_PRECONDITION"}},
            status=400,
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    client = AsyncAnthropicVertex(
        region="us-east5",
        project_id="p",
        access_token="tok",
        base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=0,
    )
    try:
        with pytest.raises(RemoteError) as err:
            await count_tokens(client, "m", {"messages": []})
        assert err.value.status == 400
    finally:
        await client.close()
        await runner.cleanup()
