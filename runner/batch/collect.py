"""Turn Vertex batch output into one ResultRow per custom_id, in bounded memory.

Output lines are joined to the inputs by custom_id only (Vertex writes them in
any order, and a job can stop before writing some). The join spills to disk:
every output line and every expected custom_id goes to one of K partition files
chosen by a hash of the custom_id, then each partition is joined on its own, so
memory holds one partition's ids whatever the row count. Rounds (the first run,
then each `--retry-failed` job) are written newest first, so the newest
attempt of a custom_id wins.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..records import ResultRow

PARTITION_ROWS = 50_000          # ids per partition: bounds the join's memory
MAX_PARTITIONS = 512
_CODE_RE = re.compile(rb'"code"\s*:\s*(\d{3})')
_HTTP_TEXT = {"bad request": 400, "unauthorized": 401, "forbidden": 403, "not found": 404,
              "too many requests": 429, "internal server error": 500,
              "service unavailable": 503, "deadline exceeded": 504}


def parse_status(status: str) -> dict[str, Any]:
    """Vertex's per-row `status` text -> `{type, message, code}`.

    `Bad Request: {"error":{"code":400,"message":"...","status":"FAILED_PRECONDITION"}}`
    gives code 400 and type FAILED_PRECONDITION; plain text keeps its message.
    """
    head, _, rest = status.partition(":")
    code: int | None = None
    kind = head.strip().lower().replace(" ", "_") or "error"
    message = status
    brace = status.find("{")
    if brace >= 0:
        try:
            detail = orjson.loads(status[brace:])
        except orjson.JSONDecodeError:
            detail = None
        if isinstance(detail, dict):
            err = detail.get("error", detail)
            if isinstance(err, dict):
                code = _int(err.get("code"))
                kind = str(err.get("status") or err.get("type") or kind)
                message = str(err.get("message") or status)
        if code is None:
            found = _CODE_RE.search(status.encode())
            code = int(found.group(1)) if found else None
    if code is None:
        code = _HTTP_TEXT.get(head.strip().lower())
    return {"type": kind, "message": message, "code": code}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_output(line: dict[str, Any]) -> ResultRow:
    """One output line (GCS JSONL) or row (BigQuery) -> ResultRow."""
    get = line.get
    custom_id = get("custom_id")
    if type(custom_id) is not str:
        custom_id = str(custom_id)
    status = get("status") or ""
    response = get("response")
    if response and type(response) in (str, bytes):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError:
            response = None
    processed = get("processed_time")
    if processed is not None and type(processed) is not str:
        processed = str(processed)
    if not status and type(response) is dict and response.get("type") != "error":
        usage = response.get("usage") or {}
        if not all(type(v) is int for v in usage.values()):
            usage = {k: v for k, v in usage.items() if type(v) is int}
        return ResultRow(custom_id, "succeeded", response, None, response.get("stop_reason"),
                         usage, 1, None, processed, "batch")
    if status:
        error = parse_status(str(status))
    elif isinstance(response, dict) and isinstance(response.get("error"), dict):
        err = response["error"]
        error = {"type": err.get("type", "error"), "message": err.get("message", ""), "code": None}
    else:
        error = {"type": "empty_response", "message": "the output line has no response",
                 "code": None}
    return ResultRow(custom_id=custom_id, status="errored", error=error,
                     processed_time=processed, mode="batch")


def missing_row(custom_id: str, why: str) -> ResultRow:
    return ResultRow(custom_id=custom_id, status="errored", mode="batch",
                     error={"type": "missing", "message": why, "code": None})


@dataclass
class JoinStats:
    """What the join saw besides the rows themselves."""

    expected: int = 0
    unknown: int = 0            # output lines whose custom_id was never submitted
    duplicates: int = 0         # superseded attempts (older rounds, repeated lines)
    missing: int = 0
    unknown_examples: list[str] = field(default_factory=list)


def join_results(rounds: Iterable[Iterable[tuple[bytes, bytes]]], expected_ids: Iterable[bytes],
                 *, estimate: int = 0, missing_why: str = "no output line for this custom_id",
                 stats: JoinStats | None = None, workdir: str | None = None
                 ) -> Iterator[ResultRow]:
    """Yield one ResultRow per expected custom_id.

    `rounds`: newest first; each yields `(custom_id, raw JSON line)` pairs.
    `expected_ids`: every custom_id submitted (round 0's inputs).
    """
    stats = stats if stats is not None else JoinStats()
    parts = max(1, min(MAX_PARTITIONS, -(-estimate // PARTITION_ROWS)))
    with tempfile.TemporaryDirectory(prefix="claude-jobs-join-", dir=workdir) as tmp:
        out_files = [open(os.path.join(tmp, f"out-{i}"), "wb", buffering=1 << 16)
                     for i in range(parts)]
        id_files = [open(os.path.join(tmp, f"ids-{i}"), "wb", buffering=1 << 16)
                    for i in range(parts)]
        try:
            for pairs in rounds:
                for custom_id, raw in pairs:
                    out_files[hash(custom_id) % parts].write(
                        b"%d\t%b\t%b\n" % (len(custom_id), custom_id, raw))
            for custom_id in expected_ids:
                id_files[hash(custom_id) % parts].write(custom_id + b"\n")
        finally:
            for f in out_files + id_files:
                f.close()
        for i in range(parts):
            yield from _join_partition(os.path.join(tmp, f"out-{i}"),
                                       os.path.join(tmp, f"ids-{i}"), missing_why, stats)
            os.unlink(os.path.join(tmp, f"out-{i}"))


def _join_partition(out_path: str, ids_path: str, missing_why: str,
                    stats: JoinStats) -> Iterator[ResultRow]:
    with open(ids_path, "rb") as f:
        expected = set(f.read().splitlines())
    stats.expected += len(expected)
    seen: set[bytes] = set()
    with open(out_path, "rb", buffering=1 << 16) as f:
        for line in f:
            size, _, rest = line.partition(b"\t")
            n = int(size)
            custom_id, raw = rest[:n], rest[n + 1:-1]
            if custom_id in seen:
                stats.duplicates += 1
                continue
            if custom_id not in expected:
                stats.unknown += 1
                if len(stats.unknown_examples) < 5:
                    stats.unknown_examples.append(custom_id.decode(errors="replace"))
                continue
            seen.add(custom_id)
            yield parse_output(orjson.loads(raw))
    for custom_id in expected - seen:
        stats.missing += 1
        yield missing_row(custom_id.decode(), missing_why)


_ID_KEY = b'"custom_id":'


def line_custom_id(line: bytes) -> bytes:
    """The custom_id of an output line, without parsing the line when that is unambiguous.

    The key appears once in a line whose id follows our rule (no escapes), so a
    byte search finds it; anything else (nested keys, spaces, escapes) is parsed.
    """
    at = line.find(_ID_KEY)
    if at >= 0 and line.find(_ID_KEY, at + 1) < 0:
        start = at + len(_ID_KEY)
        while line[start:start + 1] == b" ":
            start += 1
        if line[start:start + 1] == b'"':
            end = line.find(b'"', start + 1)
            if end > start + 1 and line.find(b"\\", start + 1, end) < 0:
                return line[start + 1:end]
    return str(orjson.loads(line).get("custom_id")).encode()


def keyed_lines(lines: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """JSONL output lines -> (custom_id, line) pairs; blank lines are skipped."""
    for line in lines:
        line = line.strip()
        if line:
            yield line_custom_id(line), line


def keyed_rows(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[bytes, bytes]]:
    """BigQuery output rows -> (custom_id, JSON line) pairs."""
    for row in rows:
        yield str(row.get("custom_id")).encode(), orjson.dumps(row, default=str)
