"""A stream ledger in the state location: a head object and immutable flush objects.

    stream/<project>/<spec>/head.json              {"revision", "epoch", "created"}
    stream/<project>/<spec>/<epoch>/<seq>.jsonl    one object per flush, lines {"p": part, "r": row}

Finished rows are flushed (created with `ifGenerationMatch=0`, one object per group
commit, never one per row) before they count as done. Flush numbers follow each
other; only the lock holder writes, and a number that exists already means another
run wrote it, which fails this one rather than mixing two runs. A restart starts a
new epoch (a fresh folder) by replacing the head with a generation match, so a crash
half-way through a restart never leaves rows of two revisions mixed; old epochs are
deleted afterwards, best effort.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson

from runner.errors import StateError
from runner.state.store import StateStore


class RemoteLedger:
    def __init__(self, store: StateStore, project: str, spec_name: str):
        self.store = store
        self.spec_name = spec_name
        self.folder = f"stream/{project}/{spec_name}"
        self.head_key = f"{self.folder}/head.json"

    def head(self) -> tuple[dict, object] | None:
        found = self.store.read(self.head_key)
        if found is None:
            return None
        try:
            return orjson.loads(found[0]), found[1]
        except orjson.JSONDecodeError:
            raise StateError(
                "the stream ledger's head object is damaged",
                where=self.store.where(self.head_key),
                hint="re-run with --restart to start the spec over",
            ) from None

    def begin(self, revision: str, generation: object | None) -> str:
        """Start a new epoch for `revision`, replacing the head seen at `generation`."""
        epoch = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        data = orjson.dumps({"spec": self.spec_name, "revision": revision, "epoch": epoch, "created": _now()})
        if generation is None:
            done = self.store.create(self.head_key, data)
        else:
            done = self.store.replace(self.head_key, data, generation)
        if done is None:
            raise StateError(
                f"another run of spec {self.spec_name!r} restarted its ledger at the same time",
                where=self.store.where(self.head_key),
                hint="re-run once it is done",
            )
        self._forget_other_epochs(epoch)
        return epoch

    def _forget_other_epochs(self, epoch: str) -> None:
        for key in self.store.list(f"{self.folder}/"):
            rest = key[len(self.folder) + 1 :]
            if "/" in rest and not rest.startswith(f"{epoch}/"):
                self.store.delete(key)

    def flush_key(self, epoch: str, seq: int) -> str:
        return f"{self.folder}/{epoch}/{seq:010d}.jsonl"

    def flush(self, epoch: str, seq: int, lines: bytes) -> None:
        """Store one flush; fails if flush `seq` exists (another run is writing this ledger)."""
        key = self.flush_key(epoch, seq)
        if self.store.create(key, lines) is None:
            raise StateError(
                f"flush {seq} of spec {self.spec_name!r} was already written by another run; "
                "this run stopped (finished rows are saved)",
                where=self.store.where(key),
                hint="check `claude-jobs status`; never run one spec twice at once (see its lock)",
            )

    def flushes(self, epoch: str, after: int = 0) -> Iterator[tuple[int, str]]:
        """(seq, key) of every flush of `epoch` numbered above `after`, in order."""
        prefix = f"{self.folder}/{epoch}/"
        for key in self.store.list(prefix):
            name = key[len(prefix) :]
            if name.endswith(".jsonl") and name[:-6].isdigit() and int(name[:-6]) > after:
                yield int(name[:-6]), key

    def read_flush(self, key: str) -> list[tuple[int, dict]]:
        found = self.store.read(key)
        if found is None:
            return []
        out = []
        for line in found[0].splitlines():
            if line.strip():
                item = orjson.loads(line)
                out.append((int(item["p"]), item["r"]))
        return out


def flush_lines(part: int, rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps({"p": part, "r": row}) + b"\n" for row in rows)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
