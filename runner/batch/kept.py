"""Kept source columns for batch results: the staged kept values joined back to rows by custom_id.

Batch outputs come back in any order and carry only `custom_id`, `request` and
the answer, so the values of `output.keep` staged beside each input (a `.kept`
object, or `kept__` columns of the input table) are joined back by custom_id:

- up to `runner.batch.collect.STREAMING_MAX_ROWS`, inside the output join's own
  index (`KeptSlots`): each kept line's place is stored at its custom_id's slot
  of that index (16 bytes a row), so the one lookup that finds an output line's
  expected id also finds its kept values. When the kept lines name every
  expected id (staged one a row beside every input), their hashes *are* that
  index (`KeptSlots.indexed`) and the expected ids are not read. The lines
  themselves, in their staged form, stay in memory up to `IN_MEMORY_MAX_BYTES`
  in all; past that they spill to a temporary file, each read back with one
  `pread` (its pages never count toward the RSS);
- beyond (`attach_kept`): an on-disk SQLite table keyed by custom_id, looked up
  a chunk at a time, so memory holds one chunk whatever the row count.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import count, islice
from typing import Any

import orjson

from runner.records import ResultRow

IN_MEMORY_MAX_BYTES = 128 << 20  # kept lines held in memory up to this; beyond, a temporary file

# One staged kept line (a `.kept` object's, written by runner.batch.staging): {"custom_id":"ID","kept":{...}}.
_HEAD = b'{"custom_id":"'
_MID = b'","kept":'
_HEAD_SIZE, _MID_SIZE = len(_HEAD), len(_MID)
_QUOTE = ord('"')
_PLAIN_ID = re.compile(rb"[A-Za-z0-9_-]+")  # the custom_id rule's characters: nothing to escape


def kept_line(custom_id: str | bytes, values: bytes) -> bytes:
    """The staged line of one custom_id's kept values (a JSON object, serialised), without its newline.

    An id that follows the custom_id rule is written as it is (the form `kept_pair` slices);
    any other is JSON-escaped, so the line stays JSON whatever the id (it is then parsed)."""
    key = custom_id.encode() if isinstance(custom_id, str) else custom_id
    if _PLAIN_ID.fullmatch(key):
        return _HEAD + key + _MID + values + b"}"
    return b'{"custom_id":' + orjson.dumps(key.decode()) + b',"kept":' + values + b"}"


def kept_pair(line: bytes) -> tuple[bytes, bytes]:
    """(custom_id, kept values) of one kept line. Our own lines, with an ID free of quotes and
    escapes (the custom_id rule), are sliced without parsing; any other line is parsed."""
    head = _HEAD_SIZE
    quote = line.find(b'"', head)  # the end of an ID without quotes
    if (
        quote > head
        and line.startswith(_MID, quote)
        and line.startswith(_HEAD)
        and line.endswith(b"}")
        and line.find(b"\\", head, quote) < 0
    ):
        return line[head:quote], line[quote + _MID_SIZE : -1]
    parsed = orjson.loads(line)
    return str(parsed.get("custom_id")).encode(), orjson.dumps(parsed["kept"])


class KeptSlots:
    """Kept values at the slots of an index of the expected custom_ids.

    Built from blocks of kept lines (whole lines each): the block's lines are
    found, and checked to be in the staged form, in a few vectorised steps; only
    the ids are sliced one by one, to be hashed. A line in any other form is
    parsed and stored in the staged form. Two ways to build one:

    - `placed(place, size, ...)`: into an index built from the expected ids.
      `place(ids)` gives each id's slot in `range(size)` (an array, or a list),
      or -1 for an id that is not expected (`runner.batch.collect._IdIndex.slots`).
      A kept line whose id is not expected is stored but never placed; one whose
      hash collides with an expected id's lands on that id's slot, and the exact
      comparison in `values` then looks for the right line among all of them;
    - `indexed(...)`: the kept lines are the index: when they name every
      expected id (staged beside every input, one line a row), their sorted
      hashes are the index, and each slot holds its own line, so the expected
      ids need no read of their own (`ids` names the slots no output reached).
    """

    def __init__(self, tmp: str):
        self.starts: Any = None  # each slot's line: its first byte, or -1 for none
        self.ends: Any = None  # ... and its newline
        self._stack = contextlib.ExitStack()
        self._buffer: bytearray | None = bytearray()  # the lines, until they pass IN_MEMORY_MAX_BYTES
        self._path = os.path.join(tmp, "kept.jsonl")
        self._fd: int | None = None
        self._view: memoryview | None = None
        self.empty = True

    @classmethod
    def placed(
        cls, place: Callable[[list[bytes]], Any], size: int, blocks: Iterable[bytes], tmp: str
    ) -> KeptSlots:
        """The kept lines of `blocks`, each at the slot `place` gives its id."""
        import numpy as np

        slots = cls(tmp)
        slots.starts = np.full(size, -1, dtype=np.int64)
        slots.ends = np.zeros(size, dtype=np.int64)
        for keys, begins, ends in slots._store(blocks):
            at = np.asarray(place(keys), dtype=np.int64)
            placed = at >= 0
            slots.starts[at[placed]] = begins[placed]
            slots.ends[at[placed]] = ends[placed]
        return slots

    @classmethod
    def indexed(cls, blocks: Iterable[bytes], tmp: str, limit: int) -> tuple[Any, KeptSlots] | None:
        """(the sorted 64-bit hashes of the kept lines' ids, the slots in that order), or None when
        two ids share a hash (a repeated line, or a collision) or there are more than `limit`."""
        import numpy as np

        slots = cls(tmp)
        hashes, starts, ends = [], [], []
        rows = 0
        stored = slots._store(blocks)
        for keys, begins, stops in stored:
            rows += len(keys)
            if rows > limit:
                stored.close()
                slots.close()
                return None
            hashes.append(np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)))
            starts.append(begins)
            ends.append(stops)
        joined = np.concatenate(hashes) if hashes else np.empty(0, np.int64)
        order = np.argsort(joined, kind="stable")
        joined = joined[order]
        if len(joined) > 1 and bool((joined[1:] == joined[:-1]).any()):
            slots.close()
            return None
        slots.starts = np.concatenate(starts)[order] if starts else np.empty(0, np.int64)
        slots.ends = np.concatenate(ends)[order] if ends else np.empty(0, np.int64)
        return joined, slots

    def _store(self, blocks: Iterable[bytes]):
        """Hold every line of `blocks` (in memory, or spilled to a file past IN_MEMORY_MAX_BYTES);
        yield each block's (ids, line begins, line ends), offsets into all the lines held."""
        out = None
        written = 0
        with contextlib.ExitStack() as writing:
            for raw in blocks:
                block, keys, begins, ends = _staged_lines(raw)
                if not keys:
                    continue
                if out is None:
                    assert self._buffer is not None
                    self._buffer += block
                    if len(self._buffer) > IN_MEMORY_MAX_BYTES:  # spill: from here on, a file
                        out = writing.enter_context(open(self._path, "wb", buffering=1 << 20))
                        out.write(self._buffer)
                        self._buffer = None
                else:
                    out.write(block)
                yield keys, begins + written, ends + written
                written += len(block)
        self.empty = written == 0
        if self._buffer is None:
            self._fd = self._stack.enter_context(open(self._path, "rb", buffering=0)).fileno()
        else:
            self._view = self._stack.enter_context(memoryview(self._buffer))

    def ids(self, slots) -> list[bytes]:
        """The custom_id of the line at each of `slots` (an array; each slot holds a line, as
        `indexed` builds them). Only for the ids no output line reached: few, so each is read by
        `kept_pair`, exact whatever the line's form."""
        found = []
        for begin, end in zip(self.starts[slots].tolist(), self.ends[slots].tolist()):
            if self._buffer is not None:
                line = bytes(self._buffer[begin:end])
            else:
                assert self._fd is not None
                line = os.pread(self._fd, end - begin, begin)
            found.append(kept_pair(line.rstrip(b"\n"))[0])
        return found

    def close(self) -> None:
        self._stack.close()

    def values(self, keys: list[bytes], slots) -> list[Any]:
        """The kept values of each custom_id of `keys` (as UTF-8), read from its slot (an array of
        `runner.batch.collect._IdIndex.slots`, -1 where the id is not expected): None where no
        line was placed.

        A line is `key`'s if the key follows its head and a quote ends it there (every line held
        is in the staged form); otherwise another id with the same 64-bit hash took the slot, and
        `_scan` finds `key`'s own line. One loop per storage, with no call per row but the
        parse: this runs for every row of a typed batch."""
        import numpy as np

        found: list[Any] = [None] * len(keys)
        if self.empty or not len(keys):
            return found
        placed = np.maximum(slots, 0)
        begins = np.where(slots >= 0, self.starts[placed], -1).tolist()
        ends = self.ends[placed].tolist()
        loads, head, mid, quote = orjson.loads, _HEAD_SIZE, _MID_SIZE, _QUOTE
        lines, view = self._buffer, self._view
        if lines is not None and view is not None:  # in memory: read in place, no copy
            for i, key, begin, end in zip(count(), keys, begins, ends):
                if begin < 0:
                    continue
                after = begin + head + len(key)
                if lines.startswith(key, begin + head) and lines[after] == quote:
                    found[i] = loads(view[after + mid : end - 1])
                else:
                    found[i] = self._scan(key)
            return found
        assert self._fd is not None
        pread, fd = os.pread, self._fd
        for i, key, begin, end in zip(count(), keys, begins, ends):  # spilled: one pread a line
            if begin < 0:
                continue
            line = pread(fd, end - begin, begin)
            after = head + len(key)
            if line.startswith(key, head) and line[after] == quote:  # key first: `after` is then inside
                found[i] = loads(line[after + mid : -1])
            else:
                found[i] = self._scan(key)
        return found

    def _scan(self, key: bytes):
        """The values of `key`, read line by line (only after a 64-bit hash collision)."""
        with contextlib.ExitStack() as stack:
            lines: Iterable[bytes | bytearray] = (
                self._buffer.splitlines()
                if self._buffer is not None
                else stack.enter_context(open(self._path, "rb"))
            )
            for line in lines:
                found, values = kept_pair(bytes(line).rstrip(b"\n"))
                if found == key:
                    return orjson.loads(values)
        return None


def _staged_lines(block: bytes):
    """(the block in staged form, each line's custom_id, line begins, line ends) of a block of kept
    lines; a line's end is its newline. Lines in the staged form are found in vectorised steps."""
    import numpy as np

    if not block.endswith(b"\n"):
        block += b"\n"
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    begins = np.empty_like(ends)
    begins[0] = 0
    begins[1:] = ends[:-1] + 1
    head, mid = _HEAD_SIZE, _MID_SIZE
    quotes = np.flatnonzero(data == 34)
    ok = ends - begins > head + mid + 1  # room for the head, an id, the middle and "}"
    found = np.searchsorted(quotes, begins + head)  # the first quote after the head ends the id
    ok &= found < len(quotes)
    id_ends = quotes[np.minimum(found, len(quotes) - 1)] if len(quotes) else begins + head
    ok &= (id_ends > begins + head) & (id_ends + mid < ends - 1)
    last = len(data) - 1
    for pattern, base in ((_HEAD, begins), (_MID, id_ends)):
        for offset, byte in enumerate(pattern):  # one byte of the pattern at a time, every line at once
            ok &= data[np.minimum(base + offset, last)] == byte
    ok &= data[np.maximum(ends - 1, 0)] == ord("}")
    if b"\\" in block:  # no backslash inside an id: as many before its end as before its start
        escapes = np.cumsum(data == 92, dtype=np.int32)
        ok &= escapes[np.clip(id_ends - 1, 0, last)] == escapes[np.minimum(begins + head - 1, last)]
    if ok.all():
        id_begins = (begins + head).tolist()
        keys = [block[b:e] for b, e in zip(id_begins, id_ends.tolist())]
        return block, keys, begins, ends
    # Some line in another form (key order, spaces, escapes) or blank: the block line by line.
    pairs = list(kept_pairs([block]))
    lines = [kept_line(key, values) for key, values in pairs]
    staged = b"".join(line + b"\n" for line in lines)
    sizes = np.array([len(line) for line in lines], np.int64)
    ends = np.cumsum(sizes + 1) - 1
    return staged, [key for key, _ in pairs], ends - sizes, ends


def kept_pairs(blocks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """(custom_id, kept values) of every line of blocks of kept lines."""
    for block in blocks:
        for line in block.split(b"\n"):
            if line.strip():
                yield kept_pair(line)


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
