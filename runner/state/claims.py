"""Claims in the state location: who owns a destination, who submits a batch job.

A destination is owned by one spec on one project (`destinations/<sha>.json`,
holding the destination, spec and project). The first run to write it creates the
claim, atomically: of two specs started at once, one gets it and the other is
refused. Only `--restart` takes a destination over, and never while its owner's
run holds its lock; the former owner is then refused in turn until it restarts.

A batch submission claim (`batch/<project>/<spec>/<rev>/claims/<display name>`)
says "this runner is creating that job"; see runner/batch/submit.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import orjson

from runner.errors import StateError
from runner.state.locks import Holder, lock_key
from runner.state.store import StateStore

STALE_SECONDS = 600.0
NEW, OURS, TAKEN = "new", "ours", "taken"


def destination_claim_key(destination_key: str) -> str:
    return f"destinations/{hashlib.sha256(destination_key.encode()).hexdigest()[:40]}.json"


def claim_destination(
    store: StateStore,
    *,
    destination_key: str,
    shown: str,
    spec_name: str,
    project: str,
    restart: bool,
    where: str,
) -> str:
    """Own `destination_key` for (spec, project): NEW (first claim), OURS, or TAKEN (--restart)."""
    key = destination_claim_key(destination_key)
    ours = {
        "destination": destination_key,
        "spec": spec_name,
        "project": project,
        "since": time.time(),
        "host": socket.gethostname(),
    }
    for _ in range(10):
        found = store.read(key)
        if found is None:
            if store.create(key, orjson.dumps(ours)) is not None:
                return NEW
            continue  # another run created it first: look at who
        data, generation = found
        try:
            owner = orjson.loads(data)
        except orjson.JSONDecodeError:
            owner = {}
        if owner.get("spec") == spec_name and owner.get("project") == project:
            return OURS
        other = f"spec {owner.get('spec', '?')!r}" + (
            f" on project {owner.get('project')}" if owner.get("project") != project else ""
        )
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(owner.get("since") or 0)))
        if not restart:
            raise StateError(
                f"{shown} belongs to {other} (since {since}); nothing was sent",
                where=where,
                hint="choose another destination, or pass --restart to take it over "
                "(the other spec is then refused until it restarts)",
            )
        running = _live_holder(store, str(owner.get("project")), str(owner.get("spec")))
        if running is not None:
            raise StateError(
                f"{shown} is being written right now by {other}, run by {running.describe()}; nothing was sent",
                where=where,
                hint="wait for that run to finish before taking the destination over with --restart",
            )
        if store.replace(key, orjson.dumps(ours), generation) is not None:
            return TAKEN
    raise StateError(
        f"{shown}: its claim keeps changing under this run", where=where, hint="re-run in a minute"
    )


def _live_holder(store: StateStore, project: str, spec_name: str) -> Holder | None:
    found = store.read(lock_key(project, spec_name))
    if found is None:
        return None
    holder = Holder.parse(found[0])
    return None if holder.expired() else holder


class SubmissionClaims:
    """Across machines, one runner at a time creates a given batch job (see runner/batch/submit.py).

    Before a create, a runner claims the job's display name with an object written
    only if absent; the loser waits for the winner's job to appear and attaches to
    it. A claim whose runner died (older than STALE_SECONDS, and still no job) is
    taken over with a generation-matched write, so it cannot be taken twice either.
    """

    def __init__(self, store: StateStore, project: str, spec_name: str, rev: str):
        self.store = store
        self.prefix = f"batch/{project}/{spec_name}/{rev}/claims"

    def _key(self, display_name: str) -> str:
        return f"{self.prefix}/{display_name}.json"

    def take(self, display_name: str, ours: bool = False) -> bool:
        """True if this runner now holds the claim; False if a live runner holds it.

        `ours`: this machine's record says an earlier run of ours sent (or was about
        to send) this create, so an existing claim is our own, left by a crash.
        """
        key = self._key(display_name)
        payload = orjson.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})
        for _ in range(10):
            if self.store.create(key, payload) is not None:
                return True
            found = self.store.read(key)
            if found is None:
                continue  # released in between: try again
            data, generation = found
            try:
                at = float(orjson.loads(data).get("at") or 0)
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                at = 0.0
            if not (ours or time.time() - at > STALE_SECONDS):
                return False
            return self.store.replace(key, payload, generation) is not None
        return False

    def release(self, display_name: str) -> None:
        """Give the claim up (the create was refused), so the next attempt can take it."""
        self.store.delete(self._key(display_name))
