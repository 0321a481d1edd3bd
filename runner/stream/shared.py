"""A stream run's hold on the state location: its lock, its destination claim, its ledger.

With the local state folder the SQLite ledger is the state. With a Cloud Storage
state location it is this machine's working copy: what counts as done is what was
flushed (runner/state/ledger_objects.py). Opening a ledger then first brings the
working copy up to the flushes (another machine's, or this one's last flush before
a kill), in bounded memory: one flush object at a time.
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import StateError
from runner.paths import private_folder
from runner.records import ResultRow
from runner.state.ledger_objects import RemoteLedger, flush_lines
from runner.state.locks import SpecLock
from runner.state.store import StateStore
from runner.stream.ledger import Ledger


class Shared:
    """Called by the writer before each ledger commit (see executor.py)."""

    def __init__(
        self, lock: SpecLock | None, remote: RemoteLedger | None = None, epoch: str = "", synced: int = 0
    ):
        self.lock = lock
        self.remote = remote
        self.epoch = epoch
        self.synced = synced

    def check(self) -> None:
        if self.lock is not None:
            self.lock.check()

    def flush(self, part: int, rows: list[ResultRow]) -> int | None:
        """Store `rows` in the state location before they count as done; the flush number."""
        self.check()
        if self.remote is None:
            return None
        seq = self.synced + 1
        self.remote.flush(self.epoch, seq, flush_lines(part, [r.to_dict() for r in rows]))
        self.synced = seq
        return seq


def started(store: StateStore, path: Path, project: str, spec_name: str) -> bool:
    """Whether a run of this spec on this project ever opened its ledger (and so owns its destination)."""
    if store.remote:
        if RemoteLedger(store, project, spec_name).head() is not None:
            return True
        _refuse_unpushed(store, path, spec_name)
        return False
    ledger = Ledger.read_only(path)
    if ledger is None:
        return False
    try:
        return bool(ledger.meta().get("revision"))
    finally:
        ledger.close()


def open_ledger(
    store: StateStore, path: Path, *, project: str, spec_name: str, revision: str, restart: bool
) -> tuple[Ledger, RemoteLedger | None, str, int]:
    """The working ledger, brought up to date with the state location: (ledger, remote, epoch, synced)."""
    if not store.remote:
        return Ledger.open(path, spec_name=spec_name, revision=revision, restart=restart), None, "", 0
    remote = RemoteLedger(store, project, spec_name)
    found = remote.head()
    head, generation = found if found is not None else ({}, None)
    if head and head.get("revision") != revision and not restart:
        raise StateError(
            f"spec {spec_name!r} changed since its last stream run "
            f"(revision {str(head.get('revision'))[:12]} -> {revision[:12]}); "
            "its ledger holds results of the old revision",
            where=remote.store.where(remote.head_key),
            hint="re-run with --restart to discard them and start over, or restore the spec and its inputs",
        )
    if not head and not restart:
        _refuse_unpushed(store, path, spec_name)
    if restart or not head:
        epoch = remote.begin(revision, generation)
        ledger = Ledger.open(path, spec_name=spec_name, revision=revision, restart=True)
        ledger.set_meta(epoch=epoch, synced="0")
        ledger.fresh = True
        return ledger, remote, epoch, 0
    epoch = str(head["epoch"])
    ledger = Ledger.open(path, spec_name=spec_name, revision=revision, restart=_local_epoch(path) != epoch)
    try:
        if ledger.meta().get("epoch") != epoch:
            ledger.set_meta(epoch=epoch, synced="0")
        synced = import_flushes(ledger, remote, epoch)
    except BaseException:
        ledger.close()
        raise
    ledger.fresh = False  # the destination holds this epoch's rows, written from any machine
    return ledger, remote, epoch, synced


def import_flushes(ledger: Ledger, remote: RemoteLedger, epoch: str) -> int:
    """Bring `ledger` up to every flush of `epoch`; returns the last flush number."""
    synced = int(ledger.meta().get("synced") or 0)
    for seq, key in remote.flushes(epoch, after=synced):
        if seq != synced + 1:
            raise StateError(
                f"flush {synced + 1} of the stream ledger is missing (found {seq})",
                where=remote.store.where(key),
                hint="the state location was edited by hand; re-run with --restart to start over",
            )
        rows = [(part, ResultRow.from_dict(row)) for part, row in remote.read_flush(key)]
        ledger.import_rows(rows, seq)
        synced = seq
    return synced


def sync_copy(store: StateStore, path: Path, project: str, spec_name: str) -> None:
    """For status/results: bring the working copy up to the state location, if it is free."""
    if not store.remote:
        return
    remote = RemoteLedger(store, project, spec_name)
    found = remote.head()
    if found is None:
        return
    head = found[0]
    private_folder(path.parent)  # state: only its owner may read it
    try:
        ledger = Ledger.open(
            path,
            spec_name=spec_name,
            revision=str(head["revision"]),
            restart=_local_epoch(path) != head["epoch"],
        )
    except StateError:
        return  # a run of this spec on this machine holds it: read the copy as it is
    try:
        if ledger.meta().get("epoch") != head["epoch"]:
            ledger.set_meta(epoch=str(head["epoch"]), synced="0")
        import_flushes(ledger, remote, str(head["epoch"]))
    finally:
        ledger.close()


def _refuse_unpushed(store: StateStore, path: Path, spec_name: str) -> None:
    """Moving to a state location must not lose the local ledger (and re-pay its rows)."""
    if _local_epoch(path) is None and _has_rows(path):
        raise StateError(
            f"spec {spec_name!r} has a ledger in the local state folder but none in {store.uri}",
            where=str(path),
            hint="push it first (`claude-jobs state push`), or re-run with --restart to start over",
        )


def _has_rows(path: Path) -> bool:
    ledger = Ledger.read_only(path)
    if ledger is None:
        return False
    try:
        counts = ledger.counts()
        return bool(counts["succeeded"] or counts["errored"])
    finally:
        ledger.close()


def _local_epoch(path: Path) -> str | None:
    ledger = Ledger.read_only(path)
    if ledger is None:
        return None
    try:
        return ledger.meta().get("epoch")
    finally:
        ledger.close()
