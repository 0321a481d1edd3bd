"""Kept source columns for batch results: a bounded-memory join of rows with the staged kept values.

Batch outputs come back in any order and carry only `custom_id`, `request` and
the answer, so the values of `output.keep` staged beside each input (a `.kept`
object, or `kept__` columns of the input table) are joined back by custom_id:

- up to `SORTED_MAX_ROWS`: memory holds 24 bytes a row (the 64-bit hash of each
  custom_id, its line's start and end, sorted by hash) and the lines themselves
  (custom_id, tab, values) up to `IN_MEMORY_MAX_BYTES` in all; past that they
  spill to a temporary file, each read back with one `pread` (its pages never
  count toward the RSS). A chunk of rows is looked up in one vectorised search,
  each line's custom_id compared exactly;
- beyond: an on-disk SQLite table keyed by custom_id, looked up a chunk at a
  time, so memory holds one chunk whatever the row count.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from itertools import islice

import orjson

from runner.records import ResultRow

CHUNK = 500  # rows looked up at once
SORTED_MAX_ROWS = 5_000_000  # as the output join (runner.batch.collect.STREAMING_MAX_ROWS)
IN_MEMORY_MAX_BYTES = 64 << 20  # kept lines held in memory up to this; beyond, a temporary file


def attach_kept(
    rows: Iterable[ResultRow],
    kept: Iterable[tuple[str | bytes, bytes]],
    workdir: str | None = None,
    estimate: int = 0,
) -> Iterator[ResultRow]:
    """`rows` with `row.kept` filled from `kept` pairs: (custom_id as str or UTF-8 bytes, its values as
    a JSON object)."""
    with tempfile.TemporaryDirectory(prefix="claude-jobs-kept-", dir=workdir) as tmp:
        if estimate <= SORTED_MAX_ROWS:
            yield from _sorted_join(rows, kept, tmp)
        else:
            yield from _sqlite_join(rows, kept, tmp)


def _sorted_join(
    rows: Iterable[ResultRow], kept: Iterable[tuple[str | bytes, bytes]], tmp: str
) -> Iterator[ResultRow]:
    import numpy as np

    hashes, offsets = array("q"), array("q")
    buffer: bytearray | None = bytearray()  # the lines, until they pass IN_MEMORY_MAX_BYTES
    with contextlib.ExitStack() as stack:
        out = None
        written = 0
        for custom_id, value in kept:
            key = custom_id.encode() if isinstance(custom_id, str) else custom_id
            line = key + b"\t" + value + b"\n"  # the id, exactly, then its values
            hashes.append(hash(key))
            offsets.append(written)
            if out is not None:
                out.write(line)
            else:
                assert buffer is not None
                buffer += line
                if len(buffer) > IN_MEMORY_MAX_BYTES:  # spill: from here on, a file read with pread
                    out = stack.enter_context(open(os.path.join(tmp, "kept.jsonl"), "wb", buffering=1 << 20))
                    out.write(buffer)
                    buffer = None
            written += len(line)
        offsets.append(written)
    if not hashes:
        yield from rows
        return
    all_hashes = np.frombuffer(hashes, dtype=np.int64)
    order = np.argsort(all_hashes, kind="stable")
    sorted_hashes = all_hashes[order]
    starts_of = np.frombuffer(offsets, dtype=np.int64)
    sorted_starts, sorted_ends = starts_of[order], starts_of[order + 1]
    del hashes, offsets, order, all_hashes
    last = len(sorted_hashes) - 1
    with contextlib.ExitStack() as stack:
        if buffer is not None:
            data = buffer

            def read(begin: int, end: int) -> bytes | bytearray:
                return data[begin:end]

        else:
            fd = stack.enter_context(open(os.path.join(tmp, "kept.jsonl"), "rb", buffering=0)).fileno()

            def read(begin: int, end: int) -> bytes | bytearray:
                return os.pread(fd, end - begin, begin)

        it = iter(rows)
        loads = orjson.loads
        while chunk := list(islice(it, CHUNK)):
            keys = [r.custom_id.encode() for r in chunk]
            wanted = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
            at = np.minimum(np.searchsorted(sorted_hashes, wanted), last)
            hits = (sorted_hashes[at] == wanted).tolist()
            begins, ends, positions = sorted_starts[at].tolist(), sorted_ends[at].tolist(), at.tolist()
            for row, key, hit, begin, end, i in zip(chunk, keys, hits, begins, ends, positions):
                if hit:
                    found = read(begin, end - 1)
                    n = len(key)
                    if found[n : n + 1] == b"\t" and found.startswith(key):
                        row.kept = loads(memoryview(found)[n + 1 :])
                    else:  # another id with the same 64-bit hash: look at its neighbours
                        row.kept = _collided(read, sorted_hashes, sorted_starts, sorted_ends, i, key)
            yield from chunk


def _collided(read, hashes, starts, ends, i: int, target: bytes):
    h = hashes[i]
    while i < len(hashes) and hashes[i] == h:
        key, _, value = bytes(read(int(starts[i]), int(ends[i]) - 1)).partition(b"\t")
        if key == target:
            return orjson.loads(value)
        i += 1
    return None


def _sqlite_join(
    rows: Iterable[ResultRow], kept: Iterable[tuple[str | bytes, bytes]], tmp: str
) -> Iterator[ResultRow]:
    conn = sqlite3.connect(os.path.join(tmp, "kept.sqlite"))
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MB
        conn.execute("CREATE TABLE kept (custom_id TEXT PRIMARY KEY, kept BLOB) WITHOUT ROWID")
        pairs = iter(kept)
        while loaded := list(islice(pairs, 10_000)):
            conn.executemany(
                "INSERT OR REPLACE INTO kept VALUES (?, ?)",
                [(k.decode() if type(k) is bytes else k, v) for k, v in loaded],
            )
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            marks = ",".join("?" * len(chunk))
            found = dict(
                conn.execute(
                    f"SELECT custom_id, kept FROM kept WHERE custom_id IN ({marks})",
                    [r.custom_id for r in chunk],
                )
            )
            for row in chunk:
                value = found.get(row.custom_id)
                if value is not None:
                    row.kept = orjson.loads(value)
                yield row
    finally:
        conn.close()
