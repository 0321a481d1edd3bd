"""Token counting of the simulated Claude: what `count-tokens` answers and `usage.input_tokens` reports.

A text costs ceil(len/4) tokens, an image (w*h)/750 tokens after Anthropic's
resizing (1568 px long edge, 1.15 MP), any other block its JSON size.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson

from runner.image_headers import image_size

_MAX_IMAGE_TOKENS = 1600
_PER_MESSAGE_TOKENS = 3


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def json_tokens(value: Any) -> int:
    return text_tokens(orjson.dumps(value).decode())


def image_tokens(source: Any) -> int:
    """Anthropic's estimate (w*h)/750 after scaling to a 1568 px long edge; unknown: the maximum."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        return _MAX_IMAGE_TOKENS
    try:
        raw = base64.b64decode(source.get("data", ""), validate=False)
    except (ValueError, TypeError):
        return _MAX_IMAGE_TOKENS
    dims = image_size(raw)
    if not dims or not all(dims):
        return _MAX_IMAGE_TOKENS
    w, h = dims
    scale = min(1.0, 1568 / max(w, h), math.sqrt(1_150_000 / (w * h)))
    return max(1, min(_MAX_IMAGE_TOKENS, math.ceil(w * scale * h * scale / 750)))


def _block_tokens(block: Any) -> int:
    if isinstance(block, str):
        return text_tokens(block)
    if not isinstance(block, dict):
        return json_tokens(block)
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "image":
        return image_tokens(block.get("source"))
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return 2 + sum(_block_tokens(b) for b in content)
        return 2 + text_tokens(str(content))
    return json_tokens(block)


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_block_tokens(b) for b in content)
    return 0


def count_tokens(body: dict) -> int:
    """Input tokens of a Messages body: system, messages (text, images, tools' blocks) and tools."""
    total = 1 + _content_tokens(body.get("system", ""))
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            total += _PER_MESSAGE_TOKENS + _content_tokens(message.get("content", ""))
    for tool in body.get("tools") or ():
        total += json_tokens(tool)
    output_format = (
        (body.get("output_config") or {}).get("format")
        if isinstance(body.get("output_config"), dict)
        else None
    )
    if output_format:
        total += json_tokens(output_format)  # the answer's schema counts as input
    return total
