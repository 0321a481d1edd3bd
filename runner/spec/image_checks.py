"""Image content blocks: the bytes exist, stay inside the repository, and are what they claim to be."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.image_headers import sniff_media_type
from runner.spec.context import Context
from runner.spec.findings import Path_
from runner.spec.uris import GCS_OBJECT, check_platform, check_reference, local_path

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the Messages API rejects larger images
EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def is_templated(value: str) -> bool:
    return "{{" in value or "{%" in value


def image_sources(ctx: Context) -> Iterator[tuple[tuple, dict, bool]]:
    """(path of the source, source, in a template?) for every image block of the spec."""
    roots: list[tuple[Path_, Any, bool]] = []
    prompts = ctx.data.get("prompts")
    if isinstance(prompts, list):
        roots += [
            (("prompts", i, "messages"), p.get("messages"), False)
            for i, p in enumerate(prompts)
            if isinstance(p, dict)
        ]
    template = ctx.data.get("template")
    if isinstance(template, dict):
        roots.append((("template", "messages"), template.get("messages"), True))
    for path, messages, templated in roots:
        if not isinstance(messages, list):
            continue
        for m, message in enumerate(messages):
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for b, block in enumerate(content):
                if (
                    isinstance(block, dict)
                    and block.get("type") == "image"
                    and isinstance(block.get("source"), dict)
                ):
                    yield path + (m, "content", b, "source"), block["source"], templated


def check_images(ctx: Context) -> None:
    for path, source, in_template in image_sources(ctx):
        kind = source.get("type")
        declared = source.get("media_type") if isinstance(source.get("media_type"), str) else None
        if kind == "base64" and isinstance(source.get("data"), str):
            _check_base64(ctx, path, source["data"], declared, in_template)
        elif kind == "file" and isinstance(source.get("path"), str):
            if not (in_template and is_templated(source["path"])):
                check_image_file(ctx, path + ("path",), source["path"], declared)
        elif kind == "gcs" and isinstance(source.get("uri"), str):
            uri = source["uri"]
            if in_template and is_templated(uri):
                continue
            ref = check_reference(
                ctx, path + ("uri",), uri, what="image", allow_file=False, gcs=GCS_OBJECT, bq=None
            )
            check_platform(ctx, path + ("uri",), ref)
            if ref and declared is None and Path(uri).suffix.lower() not in EXTENSIONS:
                _unknown_extension(ctx, path + ("uri",), uri)


def check_image_file(ctx: Context, path: tuple, value: str, declared: str | None, detail: str = "") -> None:
    """A local image: inside the repo, present, small enough, and really of its media type."""
    resolved = local_path(ctx, path, value, detail=detail)
    if resolved is None:
        return
    expected = declared or EXTENSIONS.get(resolved.suffix.lower())
    if expected is None:
        _unknown_extension(ctx, path, value)
        return
    size = resolved.stat().st_size
    if size > MAX_IMAGE_BYTES:
        ctx.error(
            path,
            f"{value!r}{detail} is {size / 1024 / 1024:.1f} MB; images are limited to 5 MB",
            "images.size",
            "resize or compress it",
        )
        return
    with resolved.open("rb") as handle:
        actual = sniff_media_type(handle.read(16))
    if actual != expected:
        what = f"its bytes look like {actual}" if actual else "its bytes are not a known image format"
        ctx.error(
            path,
            f"{value!r}{detail} is not {expected}: {what}",
            "images.content",
            "fix the file or its media_type",
        )


def _check_base64(ctx: Context, path: tuple, data: str, declared: str | None, in_template: bool) -> None:
    if in_template and is_templated(data):
        return
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        ctx.error(
            path + ("data",),
            "data is not valid base64",
            "images.base64",
            "encode the image with `base64 -w0 FILE`, or use {type: file, path: ...}",
        )
        return
    actual = sniff_media_type(raw[:16])
    if declared in EXTENSIONS.values() and actual != declared:
        what = f"the data looks like {actual}" if actual else "the data is not a known image format"
        ctx.error(path + ("data",), f"data is not {declared}: {what}", "images.content")


def _unknown_extension(ctx: Context, path: tuple, value: str) -> None:
    ctx.error(
        path,
        f"cannot tell the media type of {value!r}",
        "images.media-type",
        "use a .png, .jpg, .gif or .webp file, or set media_type",
    )
