"""Token counting of the simulated Claude: what `count-tokens` answers and `usage.input_tokens` reports.

A text costs ceil(len/4) tokens, an image (w*h)/750 tokens after Anthropic's
resizing (1568 px long edge, 1.15 MP), any other block its JSON size.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import orjson

_MAX_IMAGE_TOKENS = 1600
_PER_MESSAGE_TOKENS = 3


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def json_tokens(value: Any) -> int:
    return text_tokens(orjson.dumps(value).decode())


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, WebP or JPEG header, or None if unreadable."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return (1 + int.from_bytes(data[24:27], "little"),
                    1 + int.from_bytes(data[27:30], "little"))
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def image_tokens(source: dict) -> int:
    """Anthropic's estimate (w*h)/750 after scaling to a 1568 px long edge; unknown: the maximum."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        return _MAX_IMAGE_TOKENS
    try:
        raw = base64.b64decode(source.get("data", ""), validate=False)
    except (ValueError, TypeError):
        return _MAX_IMAGE_TOKENS
    dims = image_dimensions(raw)
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
    return total
