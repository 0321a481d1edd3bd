"""Input-token counts: a fast offline estimate, and the exact count from Vertex's count-tokens.

The estimate is what limiters and budget guards reserve before a call: text
characters / 3.5 rounded up, plus Anthropic's image formula
`tokens = width * height / 750` on the size Claude actually sees (images are
scaled down to a 1568 px long edge and about 1.15 megapixels, ~1600 tokens).
Image sizes come from the PNG/JPEG/GIF/WebP headers, never from decoding pixels.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson

from runner.image_headers import image_size

CHARS_PER_TOKEN = 3.5
MAX_LONG_EDGE = 1568
MAX_IMAGE_TOKENS = 1600  # ~1.15 megapixels, the size above which Claude resizes
UNKNOWN_IMAGE_TOKENS = MAX_IMAGE_TOKENS

_image_tokens_cache: dict[tuple[int, int], int] = {}


def tokens_for_size(width: int, height: int) -> int:
    """Anthropic's estimate for an image of this size, after Claude's own downscaling."""
    if width <= 0 or height <= 0:
        return UNKNOWN_IMAGE_TOKENS
    scale = min(1.0, MAX_LONG_EDGE / max(width, height))
    return min(MAX_IMAGE_TOKENS, math.ceil(width * scale * height * scale / 750))


def image_tokens(data_b64: str) -> int:
    """Token estimate for a base64 image; headers are decoded, never the whole image if avoidable."""
    key = (len(data_b64), hash(data_b64))
    cached = _image_tokens_cache.get(key)
    if cached is not None:
        return cached
    size = None
    # 64 chars hold the PNG/GIF/WebP headers; JPEG frames can sit behind large EXIF blocks.
    for prefix in (64, 1 << 18, len(data_b64)):
        head = data_b64[: prefix - prefix % 4] if prefix < len(data_b64) else data_b64
        try:
            size = image_size(base64.b64decode(head))
        except (binascii.Error, ValueError):
            break
        if size or prefix >= len(data_b64):
            break
    tokens = tokens_for_size(*size) if size else UNKNOWN_IMAGE_TOKENS
    if len(_image_tokens_cache) > 4096:
        _image_tokens_cache.clear()
    _image_tokens_cache[key] = tokens
    return tokens


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """A fast, offline, slightly generous estimate of a Messages body's input tokens."""
    chars = 0
    images = 0
    system = body.get("system")
    if isinstance(system, str):
        chars += len(system)
    elif isinstance(system, list):
        for block in system:
            chars += len(block.get("text", "")) if isinstance(block, dict) else 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        c, i = _content_size(content)
        chars += c
        images += i
    for key in ("tools", "tool_choice", "output_config"):  # a typed answer's schema is input too
        if body.get(key):
            chars += len(orjson.dumps(body[key]))
    return math.ceil(chars / CHARS_PER_TOKEN) + images


def _content_size(content: Any) -> tuple[int, int]:
    """(text characters, image tokens) of a message's content."""
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            chars += len(block.get("text", ""))
        elif kind == "image":
            source = block.get("source") or {}
            data = source.get("data") if source.get("type") == "base64" else None
            images += image_tokens(data) if isinstance(data, str) else UNKNOWN_IMAGE_TOKENS
        elif kind == "tool_result":
            c, i = _content_size(block.get("content"))
            chars += c
            images += i
        else:  # tool_use, document, ...: their JSON size
            chars += len(orjson.dumps(block))
    return chars, images


_COUNT_KEYS = ("system", "tools", "tool_choice", "thinking", "cache_control", "output_config")


async def count_tokens(client, model: str, body: dict[str, Any]) -> int:
    """Exact input tokens from Vertex's count-tokens endpoint, via the official SDK.

    `client` is an `anthropic.AsyncAnthropicVertex` (e.g. `Target.anthropic()`). The SDK
    POSTs `.../publishers/anthropic/models/count-tokens:rawPredict` with `model` kept in the
    body and `anthropic_version` set; only the keys that endpoint accepts are sent.
    """
    import anthropic

    from runner.errors import RemoteError

    kwargs = {key: body[key] for key in _COUNT_KEYS if key in body}
    extra = {"anthropic_version": body["anthropic_version"]} if "anthropic_version" in body else None
    try:
        result = await client.messages.count_tokens(
            model=model, messages=body["messages"], extra_body=extra, **kwargs
        )
    except anthropic.APIStatusError as exc:
        raise RemoteError(f"count-tokens failed for {model}: {exc.message}", status=exc.status_code) from None
    except anthropic.APIConnectionError as exc:
        raise RemoteError(f"count-tokens failed for {model}: {exc}") from None
    return result.input_tokens
