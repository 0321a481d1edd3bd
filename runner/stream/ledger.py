"""The stream ledger: one SQLite file per spec, the source of truth for what is done.

A row counts as done only once its full ResultRow is committed here (WAL,
`synchronous=FULL`: the commit is fsynced). Results reach the destination in
*parts*: a part collects committed rows while it is `open`, is `sealed` in a
committed transaction before anything is written, and is marked `written`
once the sink has stored it. A sink write is idempotent per part, so a crash
anywhere in between is repaired on the next run by writing every sealed part
again. A row re-sent by `--retry-failed` moves to the current part and leaves
its old part `dirty` (written with a now-stale row), which is re-written.

The ledger holds one spec revision; a different revision is refused unless
the caller restarts, which empties it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from runner.errors import StateError
from runner.paths import PRIVATE_FILE, create_private, private_folder
from runner.records import ResultRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    custom_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,             -- commit order
    part INTEGER NOT NULL,
    status TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    row BLOB NOT NULL                 -- the ResultRow as JSON
);
CREATE INDEX IF NOT EXISTS results_part ON results (part, seq);
CREATE TABLE IF NOT EXISTS parts (part INTEGER PRIMARY KEY, state TEXT NOT NULL);
"""
OPEN, SEALED, WRITTEN, DIRTY = "open", "sealed", "written", "dirty"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Ledger:
    """Single writer; `reader()` gives extra connections for other threads (WAL allows it)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, fresh: bool = False):
        self.path = path
        self.fresh = fresh  # just created or emptied: the destination holds nothing of ours
        self._lock_fd: int | None = None
        self._conn = conn
        self._seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM results").fetchone()[0]
        row = conn.execute("SELECT part FROM parts WHERE state = ?", (OPEN,)).fetchone()
        self._open_part = row[0] if row else None

    # -- opening --------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, spec_name: str, revision: str, restart: bool = False) -> Ledger:
        """Open or create the ledger of `spec_name`; refuse a different revision unless `restart`.

        Holds an exclusive lock until `close()`: two runs of one spec at once would
        send rows twice. The kernel drops the lock when the process dies, even on kill -9.
        """
        private_folder(path.parent)
        lock = _lock(path.with_suffix(".lock"), spec_name)
        try:
            ledger = cls._open(path, spec_name, revision, restart)
        except BaseException:
            os.close(lock)
            raise
        ledger._lock_fd = lock
        return ledger

    @classmethod
    def _open(cls, path: Path, spec_name: str, revision: str, restart: bool) -> Ledger:
        create_private(path)
        conn = _connect(path)
        conn.executescript(SCHEMA)
        stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if stored.get("revision") not in (None, revision):
            if not restart:
                conn.close()
                raise StateError(
                    f"spec {spec_name!r} changed since its last stream run "
                    f"(revision {stored['revision'][:12]} -> {revision[:12]}); "
                    "its ledger holds results of the old revision",
                    where=str(path),
                    hint="re-run with --restart to discard them and start over, "
                    "or restore the spec and its inputs",
                )
        fresh = restart or stored.get("revision") != revision
        if fresh:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM results")
            conn.execute("DELETE FROM parts")
            conn.execute("DELETE FROM meta")
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("spec", spec_name), ("revision", revision), ("created", _now())],
            )
            conn.execute("COMMIT")
        return cls(path, conn, fresh)

    @classmethod
    def read_only(cls, path: Path) -> Ledger | None:
        """The ledger at `path` for status/results, or None if no run ever started."""
        if not path.exists():
            return None
        conn = _connect(path)
        conn.executescript(SCHEMA)
        return cls(path, conn)

    def reader(self) -> sqlite3.Connection:
        return _connect(self.path)

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- reads ------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    @staticmethod
    def statuses(conn: sqlite3.Connection, custom_ids: list[str]) -> dict[str, str]:
        """status of each custom_id already in the ledger (absent: never finished)."""
        found: dict[str, str] = {}
        for i in range(0, len(custom_ids), 500):
            chunk = custom_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                conn.execute(f"SELECT custom_id, status FROM results WHERE custom_id IN ({marks})", chunk)
            )
        return found

    def counts(self) -> dict[str, int]:
        out = {"succeeded": 0, "errored": 0, "input_tokens": 0, "output_tokens": 0}
        for status, n, tin, tout in self._conn.execute(
            "SELECT status, COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM results GROUP BY status"
        ):
            out[status] = n
            out["input_tokens"] += tin or 0
            out["output_tokens"] += tout or 0
        return out

    def rows(self, *states: str) -> Iterator[ResultRow]:
        """Committed results in part then commit order; only parts in `states` if any are given."""
        conn = self.reader()  # its own connection: callers may iterate while we commit
        try:
            if states:
                cursor = conn.execute(
                    "SELECT r.row FROM results r JOIN parts p ON p.part = r.part "
                    f"WHERE p.state IN ({','.join('?' * len(states))}) ORDER BY r.part, r.seq",
                    states,
                )
            else:
                cursor = conn.execute("SELECT row FROM results ORDER BY part, seq")
            for (blob,) in cursor:
                yield ResultRow.from_dict(orjson.loads(blob))
        finally:
            conn.close()

    def rows_with_parts(self) -> Iterator[tuple[int, ResultRow]]:
        """(part, row) of every committed result, in part then commit order."""
        conn = self.reader()
        try:
            for part, blob in conn.execute("SELECT part, row FROM results ORDER BY part, seq"):
                yield part, ResultRow.from_dict(orjson.loads(blob))
        finally:
            conn.close()

    def part_rows(self, part: int) -> list[ResultRow]:
        return [
            ResultRow.from_dict(orjson.loads(blob))
            for (blob,) in self._conn.execute("SELECT row FROM results WHERE part = ? ORDER BY seq", (part,))
        ]

    def parts(self, *states: str) -> list[int]:
        marks = ",".join("?" * len(states))
        return [
            p
            for (p,) in self._conn.execute(
                f"SELECT part FROM parts WHERE state IN ({marks}) ORDER BY part", states
            )
        ]

    # -- writes (one transaction each, fsynced) ----------------------------------

    def pending_part(self) -> int:
        """The part `record` puts rows in next: the open one, or the one after the last."""
        if self._open_part is not None:
            return self._open_part
        return self._conn.execute("SELECT COALESCE(MAX(part), 0) FROM parts").fetchone()[0] + 1

    def set_meta(self, **values: str) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
        self._conn.execute("COMMIT")

    def record(self, rows: list[ResultRow], synced: int | None = None) -> None:
        """Commit finished rows into the open part; a re-sent row leaves its old part dirty.

        `synced`: the number of the state location's flush holding these rows (noted in
        the same transaction, so the next run knows which flushes it has)."""
        if not rows:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._open_part is None:
                last = conn.execute("SELECT COALESCE(MAX(part), 0) FROM parts").fetchone()[0]
                self._open_part = last + 1
                conn.execute("INSERT INTO parts VALUES (?, ?)", (self._open_part, OPEN))
            self._insert(conn, [(self._open_part, row) for row in rows])
            if synced is not None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (str(synced),))
            conn.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk): a second
            # ROLLBACK would raise and hide the real cause.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def import_rows(self, rows: list[tuple[int, ResultRow]], synced: int) -> None:
        """Rows another machine flushed to the state location, with the parts it gave them.

        Their parts count as dirty: the destination may hold them already or not, and a
        dirty part is written again (idempotently) before anything new is sent."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO parts VALUES (?, ?) ON CONFLICT(part) DO UPDATE SET state = excluded.state "
                "WHERE parts.state != 'open'",  # this machine's open part: sealed by the recovery
                [(p, DIRTY) for p in sorted({p for p, _ in rows})],
            )
            self._insert(conn, rows)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (str(synced),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _insert(self, conn: sqlite3.Connection, rows: list[tuple[int, ResultRow]]) -> None:
        if not rows:
            return
        olds = {
            cid: part
            for cid, part in conn.execute(
                f"SELECT custom_id, part FROM results WHERE custom_id IN ({','.join('?' * len(rows))})",
                [r.custom_id for _, r in rows],
            )
        }
        new_part = {r.custom_id: p for p, r in rows}
        stale = {p for cid, p in olds.items() if p != new_part[cid]}
        if stale:
            conn.executemany(
                "UPDATE parts SET state = ? WHERE part = ? AND state != ?",
                [(DIRTY, p, OPEN) for p in stale],
            )
        values = []
        for part, row in rows:
            self._seq += 1
            usage = row.usage or {}
            values.append(
                (
                    row.custom_id,
                    self._seq,
                    part,
                    row.status,
                    int(usage.get("input_tokens") or 0),
                    int(usage.get("output_tokens") or 0),
                    orjson.dumps(row.to_dict()),
                )
            )
        conn.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    def seal(self) -> int | None:
        """Close the open part (its content is fixed from now on); returns it, or None if none."""
        if self._open_part is None:
            return None
        part, self._open_part = self._open_part, None
        self._set_state(part, SEALED)
        return part

    def mark_written(self, parts: Iterable[int]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("UPDATE parts SET state = ? WHERE part = ?", [(WRITTEN, p) for p in parts])
        self._conn.execute("COMMIT")

    def _set_state(self, part: int, state: str) -> None:
        self._conn.execute("UPDATE parts SET state = ? WHERE part = ?", (state, part))


def _lock(path: Path, spec_name: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateError(
            f"another run of spec {spec_name!r} is in progress on this machine",
            where=str(path),
            hint="wait for it to finish, or stop it (Ctrl-C); a re-run then resumes where it stopped",
        ) from None
    return fd


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
