"""Kept source columns for batch results: the staged kept values joined back to rows by custom_id.

Batch outputs come back in any order and carry only `custom_id`, `request` and
the answer, so the values of `output.keep` staged beside each input (a `.kept`
object, or `kept__` columns of the input table) are joined back by custom_id:

- up to `runner.batch.collect.STREAMING_MAX_ROWS`, inside the output join's own
  index (`KeptSlots`): each kept line's place is stored at its custom_id's slot
  of that index (16 bytes a row), so the one lookup that finds an output line's
  expected id also finds its kept values. The lines themselves (custom_id, tab,
  values) stay in memory up to `IN_MEMORY_MAX_BYTES` in all; past that they
  spill to a temporary file, each read back with one `pread` (its pages never
  count toward the RSS). Every line's custom_id is compared exactly;
- beyond (`attach_kept`): an on-disk SQLite table keyed by custom_id, looked up
  a chunk at a time, so memory holds one chunk whatever the row count.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import orjson

from runner.records import ResultRow

CHUNK = 4_096  # kept lines placed (or rows looked up) at once
IN_MEMORY_MAX_BYTES = 64 << 20  # kept lines held in memory up to this; beyond, a temporary file


class KeptSlots:
    """Kept values at the slots of an index of the expected custom_ids.

    `place(ids)` gives each id's slot in `range(size)`, or -1 for an id that is not
    expected (`runner.batch.collect._IdIndex.positions`). A kept line whose id is
    not expected is stored but never placed; one whose hash collides with an
    expected id's lands on that id's slot, and the exact comparison in `value`
    then looks for the right line among all of them.
    """

    def __init__(
        self,
        place: Callable[[list[bytes]], list[int]],
        size: int,
        pairs: Iterable[tuple[str | bytes, bytes]],
        tmp: str,
    ):
        import numpy as np

        self.starts = np.full(size, -1, dtype=np.int64)
        self.ends = np.zeros(size, dtype=np.int64)
        self._stack = contextlib.ExitStack()
        self._buffer: bytearray | None = bytearray()  # the lines, until they pass IN_MEMORY_MAX_BYTES
        self._path = os.path.join(tmp, "kept.jsonl")
        self._fd: int | None = None
        out = None
        written = 0
        it = iter(pairs)
        with contextlib.ExitStack() as writing:
            while chunk := list(islice(it, CHUNK)):
                keys, offsets = [], [written]
                for custom_id, value in chunk:
                    key = custom_id.encode() if isinstance(custom_id, str) else custom_id
                    line = key + b"\t" + value + b"\n"  # the id, exactly, then its values
                    keys.append(key)
                    written += len(line)
                    offsets.append(written)
                    if out is not None:
                        out.write(line)
                    else:
                        assert self._buffer is not None
                        self._buffer += line
                        if len(self._buffer) > IN_MEMORY_MAX_BYTES:  # spill: from here on, a file
                            out = writing.enter_context(open(self._path, "wb", buffering=1 << 20))
                            out.write(self._buffer)
                            self._buffer = None
                at = np.array(place(keys), dtype=np.int64)
                bounds = np.array(offsets, dtype=np.int64)
                placed = at >= 0
                self.starts[at[placed]] = bounds[:-1][placed]
                self.ends[at[placed]] = bounds[1:][placed]
        self.size = written
        self.empty = written == 0
        self._view: memoryview | None = None
        if self._buffer is None:
            self._fd = self._stack.enter_context(open(self._path, "rb", buffering=0)).fileno()
        else:
            self._view = self._stack.enter_context(memoryview(self._buffer))

    def close(self) -> None:
        self._stack.close()

    def _read(self, begin: int, end: int) -> bytes | bytearray:
        if self._buffer is not None:
            return self._buffer[begin:end]
        assert self._fd is not None
        return os.pread(self._fd, end - begin, begin)

    def spans(self, slots: list[int]) -> tuple[list[int], list[int]]:
        """Where the kept line of each slot begins and ends (one vectorised lookup for a chunk);
        a begin of -1 where no line was placed. Slots must be >= 0 (not an unexpected id's -1)."""
        if self.empty:
            return [-1] * len(slots), [0] * len(slots)
        return self.starts[slots].tolist(), self.ends[slots].tolist()

    def value(self, begin: int, end: int, key: bytes):
        """The kept values of `key` (its custom_id as UTF-8) from the line at begin:end; None if
        no line was placed there (begin -1)."""
        if begin < 0:
            return None
        n = len(key)
        if self._buffer is not None and self._view is not None:  # in memory: read in place, no copy
            data = self._view
            if data[begin + n] == 9 and self._buffer.startswith(key, begin):  # 9: the tab
                return orjson.loads(data[begin + n + 1 : end - 1])
        else:
            found = self._read(begin, end - 1)
            if found[n : n + 1] == b"\t" and found.startswith(key):
                return orjson.loads(memoryview(found)[n + 1 :])
        return self._scan(key)  # another id with the same 64-bit hash took the slot: find the exact one

    def _scan(self, key: bytes):
        """The values of `key`, read line by line (only after a 64-bit hash collision)."""
        with contextlib.ExitStack() as stack:
            lines: Iterable[bytes | bytearray] = (
                self._buffer.splitlines()
                if self._buffer is not None
                else stack.enter_context(open(self._path, "rb"))
            )
            for line in lines:
                found, _, value = bytes(line).rstrip(b"\n").partition(b"\t")
                if found == key:
                    return orjson.loads(value)
        return None


def attach_kept(
    rows: Iterable[ResultRow],
    kept: Iterable[tuple[str | bytes, bytes]],
    workdir: str | None = None,
) -> Iterator[ResultRow]:
    """`rows` with `row.kept` filled from `kept` pairs (custom_id as str or UTF-8 bytes, its values as
    a JSON object), through an on-disk SQLite table: memory holds one chunk whatever the row count."""
    with tempfile.TemporaryDirectory(prefix="claude-jobs-kept-", dir=workdir) as tmp:
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
            while chunk := list(islice(it, 500)):
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
