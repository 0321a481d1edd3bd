"""A lease lock per spec in the state location, as Terraform's gcs backend does it.

The lock object (`locks/<project>/<spec>.json`) is created only if absent and holds
who took it (host, pid, user, state folder), since when, and until when its lease
runs. A thread renews the lease with a generation-matched write, so a lock that
changed hands under us is noticed (`check()` then fails the run). Another run finds
the object and is refused at once naming the holder, or waits (`wait_s`). A lock
whose lease expired (its holder died or lost the network) is taken over with a
generation-matched write, so only one run can take it; so is a lock held by a dead
process of this very machine and state folder (kill -9, then a re-run). `force_unlock`
deletes it whatever it holds, like `terraform force-unlock`.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from dataclasses import dataclass

import orjson

from runner.errors import StateError
from runner.state.store import StateStore

DEFAULT_LEASE_S = 120.0
POLL_S = 1.0


def lease_seconds() -> float:
    """`CLAUDE_JOBS_LOCK_LEASE` (seconds) or 120: how long a silent holder keeps its lock."""
    from runner.errors import UsageError

    raw = os.environ.get("CLAUDE_JOBS_LOCK_LEASE")
    if not raw:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 1.0 <= value <= 86_400.0:
        raise UsageError(
            f"{raw!r} is not a lease in seconds",
            where="CLAUDE_JOBS_LOCK_LEASE",
            hint="a number of seconds between 1 and 86400, e.g. 120",
        )
    return value


def lock_key(project: str, spec_name: str) -> str:
    return f"locks/{project}/{spec_name}.json"


def _home() -> str:
    from runner.paths import state_dir

    return str(state_dir())


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    user: str
    home: str
    since: float
    expires: float
    boot: str = ""

    @classmethod
    def parse(cls, data: bytes) -> Holder:
        try:
            d = orjson.loads(data)
            return cls(
                str(d["host"]), int(d["pid"]), str(d.get("user", "?")), str(d.get("home", "")),
                float(d["since"]), float(d["expires"]), str(d.get("boot", "")),
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls("?", 0, "?", "", 0.0, 0.0)  # unreadable: counts as expired

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        left = self.expires - time.time()
        lease = f"lease ends in {left:.0f}s" if left > 0 else f"lease expired {-left:.0f}s ago"
        return f"{self.user}@{self.host} pid {self.pid} (state folder {self.home}) since {since}, {lease}"

    def expired(self) -> bool:
        if self.expires < time.time():
            return True
        # A process of this machine (same host name and boot) and state folder that is gone
        # (kill -9): no need to wait for its lease.
        same_machine = self.host == socket.gethostname() and self.boot and self.boot == _boot_id()
        if same_machine and self.home == _home() and self.pid != os.getpid():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False


class SpecLock:
    """Hold with `acquire()` ... `release()` (or as a context manager)."""

    def __init__(self, store: StateStore, project: str, spec_name: str, lease_s: float | None = None):
        self.store = store
        self.spec_name = spec_name
        self.key = lock_key(project, spec_name)
        self.lease_s = lease_s or lease_seconds()
        self._generation = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def _payload(self, since: float) -> bytes:
        now = time.time()
        return orjson.dumps(
            {
                "spec": self.spec_name,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "user": _user(),
                "home": _home(),
                "boot": _boot_id(),
                "since": since,
                "renewed": now,
                "expires": now + self.lease_s,
            }
        )

    def acquire(self, wait_s: float = 0.0) -> SpecLock:
        deadline = time.monotonic() + wait_s
        self._since = time.time()
        while True:
            holder = self._try()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise StateError(
                    f"spec {self.spec_name!r} is being run by {holder.describe()}",
                    where=self.store.where(self.key),
                    hint="wait for it (run --wait-lock 30m), or if that run is gone, "
                    f"`claude-jobs unlock {self.spec_name}`",
                )
            time.sleep(min(POLL_S, max(0.05, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._renew_loop, name="lock-lease", daemon=True)
        self._thread.start()
        return self

    def _try(self) -> Holder | None:
        """None if we now hold the lock, else the live holder."""
        holder = Holder("?", 0, "?", "", 0.0, time.time() + 1)  # churning: try again later
        for _ in range(10):
            self._generation = self.store.create(self.key, self._payload(self._since))
            if self._generation is not None:
                return None
            found = self.store.read(self.key)
            if found is None:
                continue  # released in between
            data, generation = found
            holder = Holder.parse(data)
            if not holder.expired():
                return holder
            self._generation = self.store.replace(self.key, self._payload(self._since), generation)
            if self._generation is not None:
                return None
        return holder

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            try:
                self.renew()
            except Exception as exc:  # a network blip: the next renewal tries again
                if self._lost is None and time.time() > self._renewed_at() + self.lease_s * 0.75:
                    self._lost = f"cannot renew its lease: {exc}"

    def _renewed_at(self) -> float:
        return getattr(self, "_last_renewal", self._since)

    def renew(self) -> None:
        with self._guard:
            if self._lost or self._generation is None:
                return
            generation = self.store.replace(self.key, self._payload(self._since), self._generation)
            if generation is None:
                found = self.store.read(self.key)
                who = Holder.parse(found[0]).describe() if found else "nobody (it was unlocked)"
                self._lost = f"the lock was taken over; now held by {who}"
                return
            self._generation = generation
            self._last_renewal = time.time()

    def check(self) -> None:
        """Raise if the lock is no longer ours: a run must not write on without it."""
        if self._lost:
            raise StateError(
                f"this run of spec {self.spec_name!r} lost its lock: {self._lost}; it stopped writing",
                where=self.store.where(self.key),
                hint="finished rows are saved; re-run once the other run is done",
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._guard:
            if self._generation is not None and not self._lost:
                try:
                    self.store.delete(self.key, self._generation)
                except Exception:
                    pass
            self._generation = None

    def __enter__(self) -> SpecLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def force_unlock(store: StateStore, project: str, spec_name: str) -> Holder | None:
    """Delete the lock of `spec_name` whoever holds it; returns who held it (None: nobody)."""
    key = lock_key(project, spec_name)
    found = store.read(key)
    if found is None:
        return None
    store.delete(key, found[1])
    return Holder.parse(found[0])


def _boot_id() -> str:
    """This kernel's boot id (Linux), so that two machines sharing a host name never pass for one."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"
