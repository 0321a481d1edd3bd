"""Where data lives: the shapes of gs://, bq:// and local references, and their place on the platform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runner.spec.context import Context

BUCKET = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
DATASET = r"[A-Za-z0-9_]{1,1024}"
TABLE = r"[A-Za-z0-9_$-]{1,1024}"

GCS_OBJECT = re.compile(rf"^gs://(?P<bucket>{BUCKET})/(?P<object>[^\s]+)$")
GCS_PREFIX = re.compile(rf"^gs://(?P<bucket>{BUCKET})(?:/(?P<object>[^\s]*))?$")
BQ_TABLE = re.compile(rf"^bq://(?P<project>{PROJECT})\.(?P<dataset>{DATASET})\.(?P<table>{TABLE})$")
BQ_DATASET = re.compile(rf"^bq://(?P<project>{PROJECT})\.(?P<dataset>{DATASET})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_SHAPES = {
    GCS_OBJECT: "gs://bucket/object",
    GCS_PREFIX: "gs://bucket/prefix",
    BQ_TABLE: "bq://project.dataset.table",
    BQ_DATASET: "bq://project.dataset",
}

ROW_FORMATS = (".jsonl", ".ndjson", ".csv")
REQUEST_FORMATS = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Ref:
    kind: str  # "file" | "gcs" | "bigquery"
    uri: str
    bucket: str | None = None
    project: str | None = None
    dataset: str | None = None


def either(options) -> str:
    """`["a", "b", "c"]` -> `a, b or c`."""
    options = list(options)
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + f" or {options[-1]}"


def classify(value: str) -> str:
    if value.startswith("gs://"):
        return "gcs"
    if value.startswith("bq://"):
        return "bigquery"
    if _SCHEME.match(value):
        return "other"
    return "file"


def check_reference(
    ctx: Context,
    path: tuple,
    value: str,
    *,
    what: str,
    allow_file: bool,
    gcs: re.Pattern | None,
    bq: re.Pattern | None,
    formats: tuple[str, ...] | None = None,
    must_exist: bool = True,
) -> Ref | None:
    """Check one reference's shape (and, for files, existence); return it parsed, or None."""
    kind = classify(value)
    accepted = either(
        [
            *(["a local file"] if allow_file else []),
            *([_SHAPES[gcs]] if gcs else []),
            *([_SHAPES[bq]] if bq else []),
        ]
    )
    if kind == "gcs" and gcs:
        match = gcs.match(value)
        if not match:
            ctx.error(
                path, f"{value!r} is not a valid Cloud Storage {what}", "uri.gcs", f"use {_SHAPES[gcs]}"
            )
            return None
        obj = match.group("object") or ""
        if formats and gcs is GCS_OBJECT and not obj.lower().endswith(formats):
            ctx.error(path, f"{value!r} must end in {either(formats)}", "uri.format")
            return None
        return Ref("gcs", value, bucket=match.group("bucket"))
    if kind == "bigquery" and bq:
        match = bq.match(value)
        if not match:
            ctx.error(path, f"{value!r} is not a valid BigQuery {what}", "uri.bigquery", f"use {_SHAPES[bq]}")
            return None
        return Ref("bigquery", value, project=match.group("project"), dataset=match.group("dataset"))
    if kind == "file" and allow_file:
        if formats and not value.lower().endswith(formats):
            ctx.error(path, f"{value!r} must be a {either(formats)} file", "uri.format")
            return None
        resolved = local_path(ctx, path, value, must_exist=must_exist)
        return Ref("file", value) if resolved else None
    ctx.error(path, f"{value!r} is not a supported {what}: use {accepted}", "uri.kind")
    return None


def local_path(
    ctx: Context, path: tuple, value: str, *, must_exist: bool = True, detail: str = ""
) -> Path | None:
    """Resolve a spec-relative path; it must stay inside the repository (and exist when asked)."""
    if any(ord(ch) < 32 for ch in value):
        ctx.error(path, f"{value!r} contains control characters", "files.name")
        return None
    if Path(value).is_absolute() or value.startswith("~"):
        ctx.error(
            path,
            f"{value!r} is an absolute path",
            "files.absolute",
            "write paths relative to the spec's folder",
        )
        return None
    resolved = (ctx.base_dir / value).resolve()
    root = ctx.repo_root.resolve()
    if not resolved.is_relative_to(root):
        ctx.error(
            path,
            f"{value!r}{detail} is outside the repository",
            "files.outside-repo",
            "keep files inside the repository, next to the spec",
        )
        return None
    if resolved.is_dir():
        ctx.error(path, f"{value!r}{detail} is a folder, not a file", "files.folder")
        return None
    blocking = next((p for p in resolved.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        ctx.error(
            path,
            f"{value!r}{detail}: {blocking.relative_to(root).as_posix()} is a file, not a folder",
            "files.parent-file",
            "rename the file or pick another path",
        )
        return None
    if must_exist and not resolved.is_file():
        where = resolved.relative_to(root).as_posix()
        ctx.error(
            path,
            f"{value!r}{detail} does not exist",
            "files.missing",
            f"looked for {where}; paths are relative to the spec's folder",
        )
        return None
    return resolved


def check_platform(ctx: Context, path: tuple, ref: Ref | None) -> None:
    """With --stack-outputs: gs:// and bq:// references must name the platform's bucket and datasets."""
    stack = ctx.stack
    if stack is None or ref is None:
        return
    if ref.kind == "gcs" and ref.bucket != stack.bucket:
        ctx.error(
            path,
            f"bucket {ref.bucket!r} is not the platform's bucket {stack.bucket!r}",
            "platform.bucket",
            f"use gs://{stack.bucket}/...",
        )
    elif ref.kind == "bigquery":
        if ref.project != stack.project:
            ctx.error(
                path,
                f"project {ref.project!r} is not the platform's project {stack.project!r}",
                "platform.project",
                f"use bq://{stack.project}.DATASET...",
            )
        elif ref.dataset not in stack.bigquery_datasets:
            known = ", ".join(stack.bigquery_datasets) or "none"
            ctx.error(
                path,
                f"dataset {ref.dataset!r} is not one of the platform's datasets ({known})",
                "platform.dataset",
            )
