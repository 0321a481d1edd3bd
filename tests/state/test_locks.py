"""Spec locks: one run of a spec at a time on any machine, a lease, take-over and force-unlock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest

from runner.errors import StateError
from runner.state.locks import SpecLock, _boot_id, force_unlock, lock_key


def test_a_second_run_is_refused_naming_the_holder(store):
    with SpecLock(store, "p", "s", lease_s=30).acquire(), pytest.raises(StateError) as refused:
        SpecLock(store, "p", "s", lease_s=30).acquire()
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and "is being run by" in message
    assert "claude-jobs unlock s" in message
    assert message.startswith(store.where(lock_key("p", "s")))
    SpecLock(store, "p", "s").acquire().release()  # released: free again


def test_another_spec_or_project_has_its_own_lock(store):
    with SpecLock(store, "p", "s", lease_s=30).acquire():
        SpecLock(store, "p", "t", lease_s=30).acquire().release()
        SpecLock(store, "q", "s", lease_s=30).acquire().release()


def _foreign_lock(store, *, expires_in: float, pid: int = 1, home: str = "/another/machine") -> None:
    now = time.time()
    payload = {"host": "other-host", "pid": pid, "user": "ci", "home": home, "since": now - 60,
               "expires": now + expires_in}  # fmt: skip
    assert store.create(lock_key("p", "s"), orjson.dumps(payload)) is not None


def test_an_expired_lease_is_taken_over(store):
    _foreign_lock(store, expires_in=-1)
    lock = SpecLock(store, "p", "s", lease_s=30).acquire()
    held = orjson.loads(store.read(lock_key("p", "s"))[0])
    assert held["pid"] == os.getpid()
    lock.release()


def test_wait_lock_waits_for_the_lease_to_expire(store):
    _foreign_lock(store, expires_in=1.5)
    started = time.monotonic()
    SpecLock(store, "p", "s", lease_s=30).acquire(wait_s=20).release()
    assert 1.0 < time.monotonic() - started < 15


def test_wait_lock_gives_up_after_its_duration(store):
    _foreign_lock(store, expires_in=600)
    with pytest.raises(StateError, match="other-host pid 1"):
        SpecLock(store, "p", "s", lease_s=30).acquire(wait_s=0.5)


def test_a_dead_process_of_this_machine_and_state_folder_is_taken_over_at_once(store, monkeypatch):
    import socket

    from runner.paths import state_dir

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    now = time.time()
    payload = {"host": socket.gethostname(), "pid": pid, "user": "me", "home": str(state_dir()),
               "boot": _boot_id(), "since": now, "expires": now + 600}  # fmt: skip
    store.create(lock_key("p", "s"), orjson.dumps(payload))
    SpecLock(store, "p", "s", lease_s=30).acquire().release()


def test_a_dead_pid_on_another_machine_with_the_same_host_name_is_not_taken_over(store):
    import socket

    from runner.paths import state_dir

    now = time.time()
    payload = {"host": socket.gethostname(), "pid": 2**22 + 17, "user": "me", "home": str(state_dir()),
               "boot": "another-machine", "since": now, "expires": now + 600}  # fmt: skip
    store.create(lock_key("p", "s"), orjson.dumps(payload))
    with pytest.raises(StateError, match="is being run by"):
        SpecLock(store, "p", "s", lease_s=30).acquire()


def test_force_unlock_frees_a_live_lock_and_its_holder_notices(store):
    lock = SpecLock(store, "p", "s", lease_s=4).acquire()
    holder = force_unlock(store, "p", "s")
    assert holder is not None and holder.pid == os.getpid()
    other = SpecLock(store, "p", "s", lease_s=30).acquire()
    lock.renew()
    with pytest.raises(StateError, match="lost its lock: the lock was taken over"):
        lock.check()
    lock.release()  # never deletes the new holder's lock
    assert orjson.loads(store.read(lock_key("p", "s"))[0])["pid"] == os.getpid()
    with pytest.raises(StateError):
        SpecLock(store, "p", "s", lease_s=30).acquire()
    other.release()
    assert force_unlock(store, "p", "s") is None


def test_the_lease_is_renewed_while_the_lock_is_held(store):
    lock = SpecLock(store, "p", "s", lease_s=1.2).acquire()
    try:
        first = orjson.loads(store.read(lock_key("p", "s"))[0])["expires"]
        time.sleep(1.5)
        later = orjson.loads(store.read(lock_key("p", "s"))[0])["expires"]
        assert later > first
        _ = lock.check()
    finally:
        lock.release()
