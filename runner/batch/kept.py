"""Kept source columns for batch results: a bounded-memory join of rows with the staged kept values.

Batch outputs come back in any order and carry only `custom_id`, `request` and
the answer, so the values of `output.keep` staged beside each input (a `.kept`
object, or `kept__` columns of the input table) are joined back by custom_id:

- up to `SORTED_MAX_ROWS`: the kept values go to a temporary file and memory holds
  24 bytes a row (the 64-bit hash of each custom_id, its line's start and end,
  sorted by hash); a chunk of rows is looked up in one vectorised search and
  each line read back with one `pread`, its custom_id compared exactly;
- beyond: an on-disk SQLite table keyed by custom_id, looked up a chunk at a
  time, so memory holds one chunk whatever the row count.
"""

from __future__ import annotations

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


def attach_kept(
    rows: Iterable[ResultRow],
    kept: Iterable[tuple[str, bytes]],
    workdir: str | None = None,
    estimate: int = 0,
) -> Iterator[ResultRow]:
    """`rows` with `row.kept` filled from `kept` pairs: (custom_id, its values as a JSON object)."""
    with tempfile.TemporaryDirectory(prefix="claude-jobs-kept-", dir=workdir) as tmp:
        if estimate <= SORTED_MAX_ROWS:
            yield from _sorted_join(rows, kept, tmp)
        else:
            yield from _sqlite_join(rows, kept, tmp)


def _sorted_join(
    rows: Iterable[ResultRow], kept: Iterable[tuple[str, bytes]], tmp: str
) -> Iterator[ResultRow]:
    import numpy as np

    hashes, offsets = array("q"), array("q")
    path = os.path.join(tmp, "kept.jsonl")
    with open(path, "wb", buffering=1 << 20) as out:
        written = 0
        for custom_id, value in kept:
            line = custom_id.encode() + b"\t" + value + b"\n"  # the id, exactly, then its values
            hashes.append(hash(custom_id))
            offsets.append(written)
            out.write(line)
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
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            wanted = np.fromiter((hash(r.custom_id) for r in chunk), dtype=np.int64, count=len(chunk))
            at = np.minimum(np.searchsorted(sorted_hashes, wanted), last)
            hits = (sorted_hashes[at] == wanted).tolist()
            begins, ends, positions = sorted_starts[at].tolist(), sorted_ends[at].tolist(), at.tolist()
            for row, hit, begin, end, i in zip(chunk, hits, begins, ends, positions):
                if hit:
                    key, _, value = os.pread(fd, end - begin - 1, begin).partition(b"\t")
                    if key == row.custom_id.encode():
                        row.kept = orjson.loads(value)
                    else:  # another id with the same 64-bit hash: look at its neighbours
                        row.kept = _collided(fd, sorted_hashes, sorted_starts, sorted_ends, i, row.custom_id)
                yield row


def _collided(fd: int, hashes, starts, ends, i: int, custom_id: str):
    h, target = hashes[i], custom_id.encode()
    while i < len(hashes) and hashes[i] == h:
        begin, end = int(starts[i]), int(ends[i])
        key, _, value = os.pread(fd, end - begin - 1, begin).partition(b"\t")
        if key == target:
            return orjson.loads(value)
        i += 1
    return None


def _sqlite_join(
    rows: Iterable[ResultRow], kept: Iterable[tuple[str, bytes]], tmp: str
) -> Iterator[ResultRow]:
    conn = sqlite3.connect(os.path.join(tmp, "kept.sqlite"))
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MB
        conn.execute("CREATE TABLE kept (custom_id TEXT PRIMARY KEY, kept BLOB) WITHOUT ROWID")
        pairs = iter(kept)
        while loaded := list(islice(pairs, 10_000)):
            conn.executemany("INSERT OR REPLACE INTO kept VALUES (?, ?)", loaded)
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
