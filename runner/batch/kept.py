"""Kept source columns for batch results: a bounded-memory join of rows with the staged kept values.

Batch outputs come back in any order and carry only `custom_id`, `request` and
the answer, so the values of `output.keep` staged beside each input (a `.kept`
object, or a `kept` column of the input table) are loaded once into an on-disk
SQLite table keyed by custom_id, and each chunk of joined rows looks its values
up there: memory holds one chunk, whatever the row count.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice

import orjson

from runner.records import ResultRow

CHUNK = 500  # ids in one lookup (SQLite allows 999 parameters by default on old builds)


def attach_kept(
    rows: Iterable[ResultRow], kept: Iterable[tuple[str, bytes]], workdir: str | None = None
) -> Iterator[ResultRow]:
    """`rows` with `row.kept` filled from `kept` pairs (custom_id, JSON object of values)."""
    with tempfile.TemporaryDirectory(prefix="claude-jobs-kept-", dir=workdir) as tmp:
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
