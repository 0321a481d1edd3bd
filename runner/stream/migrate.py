"""`claude-jobs state push`: a local state folder's stream ledgers and claims to a state location."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from runner.paths import state_dir
from runner.state.ledger_objects import RemoteLedger, flush_lines
from runner.state.locks import SpecLock
from runner.state.store import StateStore
from runner.stream.ledger import Ledger

PUSH_ROWS = 1000  # rows per flush object


def push_local_state(store: StateStore) -> Iterator[str]:
    """Push every local ledger the state location lacks; yields one line per ledger or claim."""
    root = state_dir()
    for path in sorted((root / "stream").glob("*/*/ledger.sqlite")):
        project, spec_name = path.parent.parent.name, path.parent.name
        yield _push_ledger(store, path, project, spec_name)
    for claim in sorted((root / "destinations").glob("*.json")):
        key = f"destinations/{claim.name}"
        done = store.create(key, claim.read_bytes()) is not None
        yield f"destination claim {claim.stem[:12]}: " + ("pushed" if done else "already there, left alone")


def _push_ledger(store: StateStore, path, project: str, spec_name: str) -> str:
    remote = RemoteLedger(store, project, spec_name)
    with SpecLock(store, project, spec_name).acquire():
        if remote.head() is not None:
            return f"{spec_name} ({project}): already in {store.uri}, left alone"
        ledger = Ledger.read_only(path)
        if ledger is None or not ledger.meta().get("revision"):
            return f"{spec_name} ({project}): never ran, nothing to push"
        revision = ledger.meta()["revision"]
        ledger.close()
        ledger = Ledger.open(path, spec_name=spec_name, revision=revision)
        try:
            epoch = remote.begin(revision, None)
            seq = count = 0
            rows = ledger.rows_with_parts()
            while chunk := list(islice(rows, PUSH_ROWS)):
                seq += 1
                # One object per flush keeps one part per line group: write each line's own part.
                remote.flush(epoch, seq, b"".join(flush_lines(p, [r.to_dict()]) for p, r in chunk))
                count += len(chunk)
            ledger.set_meta(epoch=epoch, synced=str(seq))
        finally:
            ledger.close()
    return f"{spec_name} ({project}): pushed {count} rows in {seq} objects"
