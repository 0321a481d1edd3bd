"""Helpers for render tests: specs built directly (as the loader would), tiny real image headers."""

from __future__ import annotations

import struct
from pathlib import Path

import orjson

from runner.spec.model import InlinePrompt, JobSpec, SourceRef, Template


def png(width: int = 800, height: int = 600) -> bytes:
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"


def gif(width: int = 40, height: int = 30) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int = 1024, height: int = 768, exif: int = 70_000) -> bytes:
    """A JPEG header whose frame sits behind `exif` bytes of APP1 segments."""
    app = b""
    while exif > 0:
        size = min(exif, 65_000)
        app += b"\xff\xe1" + struct.pack(">H", size + 2) + b"E" * size
        exif -= size
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + app + sof + b"\xff\xd9"


def webp(width: int = 300, height: int = 200) -> bytes:
    body = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def file_source(repo: Path, relative: str) -> SourceRef:
    """A source as the spec loader resolves it: relative to the spec folder `jobs/`."""
    return SourceRef("file", relative, (repo / "jobs" / relative).resolve())


def template_spec(
    repo: Path,
    source: SourceRef,
    messages,
    *,
    custom_id="row-{{ id }}",
    custom_id_column=None,
    overrides=None,
    request=None,
    text="spec",
) -> JobSpec:
    template = Template(
        source=source,
        messages=messages,
        custom_id_template=None if custom_id_column else custom_id,
        custom_id_column=custom_id_column,
        overrides=overrides or {},
    )
    return JobSpec(
        path=repo / "jobs" / "job.yaml",
        text=text,
        name="job",
        model="claude-x",
        mode="batch",
        destination="out.jsonl",
        request=request or {},
        template=template,
    )


def inline_spec(repo: Path, prompts, request=None) -> JobSpec:
    return JobSpec(
        path=repo / "jobs" / "job.yaml",
        text="spec",
        name="job",
        model="claude-x",
        mode="stream",
        destination="out.jsonl",
        request=request or {},
        prompts=tuple(InlinePrompt(**p) for p in prompts),
    )


def prepared_spec(repo: Path, source: SourceRef) -> JobSpec:
    return JobSpec(
        path=repo / "jobs" / "job.yaml",
        text="spec",
        name="job",
        model="claude-x",
        mode="batch",
        destination="out.jsonl",
        prepared=source,
    )
