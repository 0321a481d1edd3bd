"""The first row of a local source: enough to know its columns without reading it all."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from runner.spec.context import Context
from runner.spec.row_parsers import BadCsv, BadJson, csv_records, parse_json_line
from runner.spec.uris import REQUEST_FORMATS, classify

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # fullmatch: `$` would accept a final newline


def first_row(ctx: Context, path: tuple, source: str, formats: tuple[str, ...]) -> dict[str, Any] | None:
    """The first row of a local file (CSV: header + first line), or None if it cannot be known.

    Problems reading it are findings at `path`; a missing or misplaced file is
    left to the reference checks. Read once per check run, however many checks ask.
    """
    key = ("first_row", path, source, formats)
    if key not in ctx.memo:
        ctx.memo[key] = _first_row(ctx, path, source, formats)
    return ctx.memo[key]


def _first_row(ctx: Context, path: tuple, source: str, formats: tuple[str, ...]) -> dict[str, Any] | None:
    if classify(source) != "file" or not source.lower().endswith(formats) or "\x00" in source:
        return None
    resolved = (ctx.base_dir / source).resolve()
    if not resolved.is_relative_to(ctx.repo_root.resolve()) or not resolved.is_file():
        return None
    rule = f"{path[0]}.source"
    try:
        if resolved.suffix.lower() == ".csv":
            return _csv_first_row(ctx, path, source, resolved, rule)
        return _jsonl_first_row(ctx, path, source, resolved, rule)
    except UnicodeDecodeError:
        ctx.error(path, f"{source} is not UTF-8 text", rule, "save it as UTF-8")
    except (OSError, csv.Error) as exc:
        ctx.error(path, f"cannot read {source}: {exc}", rule)
    return None


def check_prepared(ctx: Context) -> None:
    """A local file of prepared requests starts with a `{"custom_id", "request": {messages...}}` line."""
    prepared = ctx.data.get("prepared")
    if not isinstance(prepared, str):
        return
    row = first_row(ctx, ("prepared",), prepared, REQUEST_FORMATS)
    if row is None:
        return
    shape = 'each line looks like {"custom_id": "a-1", "request": {"messages": [...], "max_tokens": 100}}'
    custom_id, request = row.get("custom_id"), row.get("request")
    if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
        ctx.error(
            ("prepared",),
            f"the first line of {prepared} has no custom_id of 1-64 letters, digits, '-' or '_'",
            "prepared.custom-id",
            shape,
        )
    elif not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        ctx.error(
            ("prepared",),
            f"the first line of {prepared} has no request with messages",
            "prepared.request",
            shape,
        )


def _csv_first_row(
    ctx: Context, path: tuple, source: str, resolved: Path, rule: str
) -> dict[str, Any] | None:
    with resolved.open(newline="", encoding="utf-8-sig") as handle:
        records = csv_records(handle)
        try:
            header = next(records, (0, None))[1]
            row = next(records, (0, None))[1]
        except BadCsv as exc:
            ctx.error(path, f"{source}:{exc.line}: {exc.message}", rule, exc.hint)
            return None
        if not header or not any(h.strip() for h in header):
            ctx.error(
                path, f"{source} has no header row", rule, "the first line of a CSV source names its columns"
            )
            return None
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:  # a row becomes a dict: the later column would silently win
            ctx.error(
                path,
                f"column {twice[0]!r} appears more than once in the header of {source}",
                rule,
                "rename one of them: each column is one template variable",
            )
            return None
        if row is None:
            ctx.error(path, f"{source} has no rows", rule, "add rows below the header line")
            return None
    return dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))


def _jsonl_first_row(
    ctx: Context, path: tuple, source: str, resolved: Path, rule: str
) -> dict[str, Any] | None:
    with resolved.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = parse_json_line(line)
            except BadJson as exc:
                ctx.error(path, f"line {number} of {source} is not valid JSON: {exc.message}", rule)
                return None
            if not isinstance(row, dict):
                ctx.error(
                    path,
                    f"line {number} of {source} is not a JSON object",
                    rule,
                    'each line of a JSONL file is one JSON object: {"key": value, ...}',
                )
                return None
            return row
    ctx.error(path, f"{source} has no rows", rule)
    return None
