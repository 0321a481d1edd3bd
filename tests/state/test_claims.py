"""Destination claims: one spec per destination, atomically; only --restart takes one over."""

from __future__ import annotations

import threading

import pytest

from runner.errors import StateError
from runner.state.claims import NEW, OURS, TAKEN, claim_destination
from runner.state.locks import SpecLock


def claim(store, spec, restart=False, project="p"):
    return claim_destination(
        store, destination_key="/x/out.jsonl", shown="out.jsonl", spec_name=spec, project=project,
        restart=restart, where=f"{spec}.yaml: $.destination",
    )  # fmt: skip


def test_the_first_spec_owns_the_destination_and_keeps_it(store):
    assert claim(store, "a") == NEW
    assert claim(store, "a") == OURS
    with pytest.raises(StateError) as refused:
        claim(store, "b")
    assert str(refused.value).startswith("b.yaml: $.destination: out.jsonl belongs to spec 'a' (since ")
    assert "pass --restart to take it over" in str(refused.value)


def test_restart_takes_over_and_the_former_owner_is_refused_until_it_restarts(store):
    claim(store, "a")
    assert claim(store, "b", restart=True) == TAKEN
    with pytest.raises(StateError, match="belongs to spec 'b'"):
        claim(store, "a")
    assert claim(store, "a", restart=True) == TAKEN


def test_the_same_spec_on_another_project_is_another_owner(store):
    claim(store, "a")
    with pytest.raises(StateError, match="belongs to spec 'a' on project p"):
        claim(store, "a", project="q")


def test_restart_never_takes_over_from_a_run_in_progress(store):
    claim(store, "a")
    with (
        SpecLock(store, "p", "a", lease_s=30).acquire(),
        pytest.raises(StateError, match="is being written right now by spec 'a'"),
    ):
        claim(store, "b", restart=True)
    assert claim(store, "b", restart=True) == TAKEN


def test_of_specs_racing_for_one_destination_exactly_one_gets_it(store):
    barrier = threading.Barrier(6)
    won, refused = [], []

    def racer(name):
        barrier.wait()
        try:
            won.append((name, claim(store, name)))
        except StateError:
            refused.append(name)

    threads = [threading.Thread(target=racer, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and won[0][1] == NEW
    assert len(refused) == 5
