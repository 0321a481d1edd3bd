"""Turn Vertex batch output into one ResultRow per custom_id, in bounded memory.

Output lines are joined to the inputs by custom_id only (Vertex writes them in
any order, and a job can stop before writing some). Up to 5M expected ids the
outputs stream straight through: each id is looked up in a sorted array of
the expected ids' 64-bit hashes with a seen flag (9 bytes an id), and a second
pass over the expected ids names the missing ones (when kept values are staged
one line a row, those lines are the index and name the missing ids:
runner.batch.kept). Beyond that (or if two expected ids share a hash) the join
spills to disk: every output line and every expected id goes to one of K
partition files by hash, and each partition is joined on its own, so memory
holds one partition's ids whatever the row count. Rounds (the first run, then
each `--retry-failed` job) come newest first, so the newest attempt of a
custom_id wins.
"""

from __future__ import annotations

import os
import re
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson

from runner.records import ResultRow

STREAMING_MAX_ROWS = 5_000_000  # up to here: 9 bytes an expected id, outputs never spilled
CHUNK_ROWS = 4_096  # ids looked up in one vectorised step
PARTITION_ROWS = 50_000  # beyond: ids per spilled partition, which bounds memory
MAX_PARTITIONS = 512
_CODE_RE = re.compile(rb'"code"\s*:\s*(\d{3})')
_HTTP_TEXT = {
    "bad request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not found": 404,
    "too many requests": 429,
    "internal server error": 500,
    "service unavailable": 503,
    "deadline exceeded": 504,
}


def parse_status(status: str) -> dict[str, Any]:
    """Vertex's per-row `status` text -> `{type, message, code}`.

    `Bad Request: {"error":{"code":400,"message":"...","status":"FAILED_PRECONDITION"}}`
    gives code 400 and type FAILED_PRECONDITION; plain text keeps its message.
    """
    head, _, _rest = status.partition(":")
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
        usage = response.get("usage") or {}  # as Anthropic sent it, nested parts included
        return ResultRow(
            custom_id,
            "succeeded",
            response,
            None,
            response.get("stop_reason"),
            usage,
            1,
            None,
            processed,
            "batch",
        )
    if status:
        error = parse_status(str(status))
    elif isinstance(response, dict) and isinstance(response.get("error"), dict):
        err = response["error"]
        error = {"type": err.get("type", "error"), "message": err.get("message", ""), "code": None}
    else:
        error = {"type": "empty_response", "message": "the output line has no response", "code": None}
    return ResultRow(
        custom_id=custom_id, status="errored", error=error, processed_time=processed, mode="batch"
    )


def missing_row(custom_id: str, why: str) -> ResultRow:
    return ResultRow(
        custom_id=custom_id,
        status="errored",
        mode="batch",
        error={"type": "missing", "message": why, "code": None},
    )


@dataclass
class JoinStats:
    """What the join saw besides the rows themselves."""

    expected: int = 0
    unknown: int = 0  # output lines whose custom_id was never submitted
    duplicates: int = 0  # superseded attempts (older rounds, repeated lines)
    missing: int = 0
    unknown_examples: list[str] = field(default_factory=list)


def join_results(
    rounds: Iterable[Iterable[tuple[bytes, bytes]]],
    expected_ids: Callable[[], Iterable[bytes]],
    *,
    estimate: int = 0,
    missing_why: str = "no output line for this custom_id",
    stats: JoinStats | None = None,
    workdir: str | None = None,
    finish: Callable[[ResultRow], ResultRow] | None = None,
    kept: Callable[[], Iterable[bytes]] | None = None,
    kept_names_every_id: bool = False,
) -> Iterator[ResultRow]:
    """Yield one ResultRow per expected custom_id.

    `rounds`: newest first; each yields `(custom_id, raw JSON line)` pairs.
    `expected_ids()`: every custom_id submitted (round 0's inputs); it may be
    called more than once. Up to STREAMING_MAX_ROWS the outputs stream straight
    through, checked against 8 bytes a row; beyond, they spill to partitions.
    `kept()`: blocks of whole kept lines (`{"custom_id": ..., "kept": {...}}`) of
    the expected ids, in any order (`output.keep`, staged beside the inputs): each
    row gets its own as `row.kept`, found by the same lookup as its output line
    (runner.batch.kept). `kept_names_every_id`: the kept lines are one a row of
    every expected id (staging writes them so), so the join's index is built from
    them and `expected_ids` is not read, unless two of their ids share a hash.
    """
    stats = stats if stats is not None else JoinStats()
    rows = _joined(rounds, expected_ids, estimate, missing_why, stats, workdir, kept, kept_names_every_id)
    return rows if finish is None else map(finish, rows)


def _joined(
    rounds, expected_ids, estimate, missing_why, stats, workdir, kept, kept_names_every_id
) -> Iterator[ResultRow]:
    """The rows of `join_results`, by the first way that can take them: streaming through an
    index of the expected ids (with kept values at its slots), else partitions on disk."""
    if estimate <= STREAMING_MAX_ROWS:
        if kept is not None:
            return _join_streaming_kept(
                rounds, expected_ids, estimate, missing_why, stats, kept, kept_names_every_id, workdir
            )
        index = _IdIndex.build(expected_ids())
        if index is not None:
            stats.expected += len(index.hashes)
            return _streamed(rounds, expected_ids, index, missing_why, stats, None)
    return _partitioned_kept(rounds, expected_ids, estimate, missing_why, stats, kept, workdir)


def _partitioned_kept(
    rounds, expected_ids, estimate, missing_why, stats, kept, workdir
) -> Iterator[ResultRow]:
    """The join by partitions on disk, and the kept values through SQLite: memory bounded at any size."""
    rows = _join_partitioned(
        rounds, expected_ids(), max(estimate, STREAMING_MAX_ROWS), missing_why, stats, workdir
    )
    if kept is None:
        return rows
    from runner.batch.kept import attach_kept, kept_pairs

    return attach_kept(rows, kept_pairs(kept()), workdir)


class _IdIndex:
    """Sorted 64-bit hashes of the expected ids plus a seen flag each: 9 bytes an id.

    Python's string hash is SipHash keyed per process, so ids cannot be crafted
    to collide; expected ids that do collide make `build` decline (the caller
    then joins exactly, by partitions).
    """

    def __init__(self, hashes):
        self.hashes = hashes
        self.seen = bytearray(len(hashes))

    @classmethod
    def build(cls, ids: Iterable[bytes]) -> _IdIndex | None:
        import numpy as np

        raw = array("q")
        for custom_id in ids:
            raw.append(hash(custom_id))
            if len(raw) > STREAMING_MAX_ROWS:
                return None
        hashes = np.frombuffer(raw, dtype=np.int64).copy() if raw else np.empty(0, np.int64)
        del raw
        hashes.sort()
        if len(hashes) > 1 and bool((hashes[1:] == hashes[:-1]).any()):
            return None
        return cls(hashes)

    def slots(self, custom_ids: list[bytes]):
        """Index of each id's hash, or -1 for an id that was never submitted (an array)."""
        import numpy as np

        if not len(self.hashes):
            return np.full(len(custom_ids), -1, dtype=np.int64)
        wanted = np.fromiter(map(hash, custom_ids), dtype=np.int64, count=len(custom_ids))
        at = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        return np.where(self.hashes[at] == wanted, at, -1)


def _join_streaming_kept(
    rounds, expected_ids, estimate, missing_why, stats: JoinStats, kept, kept_names_every_id, workdir
) -> Iterator[ResultRow]:
    """The streaming join with kept values at the index's slots: the index built from the kept
    lines where they name every id, else from `expected_ids` (or partitions, when it cannot be)."""
    from runner.batch.kept import KeptSlots

    with tempfile.TemporaryDirectory(prefix="claude-jobs-kept-", dir=workdir) as tmp:
        built = KeptSlots.indexed(kept(), tmp, STREAMING_MAX_ROWS) if kept_names_every_id else None
        if built is not None:
            hashes, slots = built
            index = _IdIndex(hashes)
        else:
            found = _IdIndex.build(expected_ids())
            if found is None:
                yield from _partitioned_kept(
                    rounds, expected_ids, estimate, missing_why, stats, kept, workdir
                )
                return
            index = found
            slots = KeptSlots.placed(index.slots, len(index.hashes), kept(), tmp)
        stats.expected += len(index.hashes)
        try:
            yield from _streamed(
                rounds, expected_ids, index, missing_why, stats, slots, slots_name_ids=built is not None
            )
        finally:
            slots.close()


def _streamed(
    rounds, expected_ids, index: _IdIndex, missing_why: str, stats: JoinStats, slots, slots_name_ids=False
):
    """The rows of a streaming join, one at a time; with kept `slots`, each row's kept values are
    read from the slot its output line was found at (a chunk's slots looked up at once). The
    expected ids no output reached are then read again, or, when the slots hold one line of
    every expected id (`slots_name_ids`), named by those lines."""
    import numpy as np

    seen = index.seen
    for pairs in rounds:
        for chunk in _batched(pairs, CHUNK_ROWS):
            ids = [c for c, _ in chunk]
            at = index.slots(ids)
            kept = slots.values(ids, at) if slots is not None else None
            for i, ((custom_id, raw), place) in enumerate(zip(chunk, at.tolist())):
                if place < 0:
                    _unknown(stats, custom_id)
                elif seen[place]:
                    stats.duplicates += 1
                else:
                    seen[place] = 1
                    row = parse_output(orjson.loads(raw))
                    if kept is not None:
                        row.kept = kept[i]
                    yield row
    if not seen.count(0):
        return
    if slots_name_ids:  # the unseen slots are the places: their lines name the ids
        unseen = np.flatnonzero(np.frombuffer(seen, dtype=np.uint8) == 0)
        places = (unseen[i : i + CHUNK_ROWS] for i in range(0, len(unseen), CHUNK_ROWS))
        chunks: Iterable[tuple[list[bytes], Any]] = ((slots.ids(at), at) for at in places)
    else:
        chunks = ((ids, index.slots(ids)) for ids in _batched(expected_ids(), CHUNK_ROWS))
    for ids, at in chunks:
        kept = slots.values(ids, at) if slots is not None else None
        for i, (custom_id, place) in enumerate(zip(ids, at.tolist())):
            if place >= 0 and not seen[place]:
                seen[place] = 1
                stats.missing += 1
                row = missing_row(custom_id.decode(), missing_why)
                if kept is not None:
                    row.kept = kept[i]
                yield row


def _batched(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _unknown(stats: JoinStats, custom_id: bytes) -> None:
    stats.unknown += 1
    if len(stats.unknown_examples) < 5:
        stats.unknown_examples.append(custom_id.decode(errors="replace"))


def _join_partitioned(
    rounds,
    expected_ids: Iterable[bytes],
    estimate: int,
    missing_why: str,
    stats: JoinStats,
    workdir: str | None,
) -> Iterator[ResultRow]:
    """Spill outputs and ids to K files by hash of custom_id; join each file on its own."""
    parts = max(1, min(MAX_PARTITIONS, -(-estimate // PARTITION_ROWS)))
    with tempfile.TemporaryDirectory(prefix="claude-jobs-join-", dir=workdir) as tmp:
        out_files = [open(os.path.join(tmp, f"out-{i}"), "wb", buffering=1 << 16) for i in range(parts)]
        id_files = [open(os.path.join(tmp, f"ids-{i}"), "wb", buffering=1 << 16) for i in range(parts)]
        try:
            for pairs in rounds:
                for custom_id, raw in pairs:
                    out_files[hash(custom_id) % parts].write(
                        b"%d\t%b\t%b\n" % (len(custom_id), custom_id, raw)
                    )
            for custom_id in expected_ids:
                id_files[hash(custom_id) % parts].write(custom_id + b"\n")
        finally:
            for f in out_files + id_files:
                f.close()
        for i in range(parts):
            yield from _join_partition(
                os.path.join(tmp, f"out-{i}"), os.path.join(tmp, f"ids-{i}"), missing_why, stats
            )
            os.unlink(os.path.join(tmp, f"out-{i}"))


def _join_partition(out_path: str, ids_path: str, missing_why: str, stats: JoinStats) -> Iterator[ResultRow]:
    with open(ids_path, "rb") as f:
        expected = set(f.read().splitlines())
    stats.expected += len(expected)
    seen: set[bytes] = set()
    with open(out_path, "rb", buffering=1 << 16) as f:
        for line in f:
            size, _, rest = line.partition(b"\t")
            n = int(size)
            custom_id, raw = rest[:n], rest[n + 1 : -1]
            if custom_id in seen:
                stats.duplicates += 1
                continue
            if custom_id not in expected:
                _unknown(stats, custom_id)
                continue
            seen.add(custom_id)
            yield parse_output(orjson.loads(raw))
    for custom_id in expected - seen:
        stats.missing += 1
        yield missing_row(custom_id.decode(), missing_why)


_ID_KEY = b'"custom_id":'
_FIRST_KEY = b'{"custom_id":"'


def line_custom_id(line: bytes) -> bytes:
    """The custom_id of an output line, without parsing the line when that is unambiguous.

    The key appears once in a line whose id follows our rule (no escapes), so a
    byte search finds it; anything else (nested keys, spaces, escapes) is parsed.
    """
    if line.startswith(_FIRST_KEY):
        # The first key of the line's object is the top-level custom_id: no other can shadow it.
        end = line.find(b'"', len(_FIRST_KEY))
        if end > len(_FIRST_KEY):
            found = line[len(_FIRST_KEY) : end]
            if b"\\" not in found:
                return found
    at = line.find(_ID_KEY)
    if at >= 0 and line.find(_ID_KEY, at + 1) < 0:
        start = at + len(_ID_KEY)
        while line[start : start + 1] == b" ":
            start += 1
        if line[start : start + 1] == b'"':
            end = line.find(b'"', start + 1)
            if end > start + 1 and line.find(b"\\", start + 1, end) < 0:
                return line[start + 1 : end]
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
