"""The state location's atomic operations, the same on a folder and on Cloud Storage."""

from __future__ import annotations

import threading
import uuid

import pytest


def test_a_losing_racer_gets_412_from_fake_gcs_server(local_stack):
    # The emulator must enforce generation preconditions as Cloud Storage does, or no lock holds.
    from google.api_core import exceptions

    bucket = local_stack.storage().bucket("claude-jobs-local")
    blob = bucket.blob(f"state-tests/race-{uuid.uuid4().hex}")
    blob.upload_from_string(b"winner", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed) as lost:
        bucket.blob(blob.name).upload_from_string(b"loser", if_generation_match=0)
    assert lost.value.code == 412
    first = bucket.get_blob(blob.name).generation
    blob.upload_from_string(b"second", if_generation_match=first)
    with pytest.raises(exceptions.PreconditionFailed) as stale:
        bucket.blob(blob.name).upload_from_string(b"stale", if_generation_match=first)
    assert stale.value.code == 412
    assert bucket.blob(blob.name).download_as_bytes() == b"second"
    # (fake-gcs-server ignores ifGenerationMatch on DELETE: GcsStore.delete looks first.)


def test_create_succeeds_once_however_many_race_for_it(store):
    winners = []
    barrier = threading.Barrier(8)

    def racer(i):
        barrier.wait()
        if store.create("race/key", f"racer {i}".encode()) is not None:
            winners.append(i)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.read("race/key")[0] == f"racer {winners[0]}".encode()


def test_replace_needs_the_generation_it_read(store):
    generation = store.create("k", b"one")
    assert generation is not None
    assert store.read("k") == (b"one", generation)
    newer = store.replace("k", b"two", generation)
    assert newer is not None and newer != generation
    assert store.replace("k", b"three", generation) is None  # someone else's write came between
    assert store.read("k")[0] == b"two"
    assert store.delete("k", generation) is False
    assert store.delete("k", newer) is True
    assert store.read("k") is None
    assert store.replace("k", b"x", newer) is None  # gone: nothing to replace


def test_list_names_keys_under_a_prefix_in_order(store):
    for name in ("a/2", "a/10", "a/1", "b/1"):
        store.create(name, b"")
    assert list(store.list("a/")) == ["a/1", "a/10", "a/2"]
    assert list(store.list("c/")) == []


def test_local_state_files_are_private(folder_store):
    folder_store.create("locks/p/s.json", b"{}")
    assert (folder_store.root / "locks/p/s.json").stat().st_mode & 0o777 == 0o600
    assert (folder_store.root / "locks/p").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "value",
    ["gs://", "s3://bucket/x", "/tmp/state", "gs://bucket name/x"],
)
def test_a_state_location_that_is_not_gs_is_a_located_usage_error(value):
    from runner.errors import UsageError
    from runner.state import state_uri

    with pytest.raises(UsageError) as error:
        state_uri(value)
    assert str(error.value).startswith(f"--state: {value!r} is not a state location")


def test_the_state_location_comes_from_the_environment_without_the_flag(monkeypatch):
    from runner.state import state_uri

    monkeypatch.setenv("CLAUDE_JOBS_STATE", "gs://b/p/")
    assert state_uri(None) == "gs://b/p"
    monkeypatch.setenv("CLAUDE_JOBS_STATE", "")
    assert state_uri(None) is None


def test_a_ledger_copied_from_the_state_location_lands_in_a_private_folder(gcs_store, tmp_path, monkeypatch):
    import os
    import stat

    from runner.state.ledger_objects import RemoteLedger
    from runner.stream.shared import sync_copy

    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "home"))
    RemoteLedger(gcs_store, "my-project", "spec-a").begin("rev1", None)
    path = tmp_path / "home" / "stream" / "my-project" / "spec-a" / "ledger.sqlite"
    sync_copy(gcs_store, path, "my-project", "spec-a")
    assert path.exists()
    folders = [tmp_path / "home", *(p for p in (tmp_path / "home").rglob("*") if p.is_dir())]
    assert {oct(stat.S_IMODE(os.stat(p).st_mode)) for p in folders} == {oct(0o700)}
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert {oct(stat.S_IMODE(os.stat(p).st_mode)) for p in files} == {oct(0o600)}


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--state", "s3://bucket/x"],
            "error: --state: 's3://bucket/x' is not a state location (use gs://BUCKET/PREFIX",
        ),
        (["--wait-lock", "5y"], "error: --wait-lock: '5y' is not a duration (use seconds or a unit"),
    ],
)
def test_bad_state_flags_are_one_located_usage_error(args, line, capsys):
    from runner.cli import invoke
    from runner.errors import EXIT_USAGE

    assert invoke(["run", "jobs/examples/stream-inline.yaml", *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(line) and len(err.strip().splitlines()) == 1, err


def test_a_bad_state_variable_names_the_variable(capsys, monkeypatch):
    from runner.cli import invoke

    monkeypatch.setenv("CLAUDE_JOBS_STATE", "/tmp/state")
    assert invoke(["status", "jobs/examples/stream-inline.yaml"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: CLAUDE_JOBS_STATE: '/tmp/state' is not a state location"
    )
