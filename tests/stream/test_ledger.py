"""Ledger semantics: what counts as done, revisions, parts, and repair after a crash."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from runner.dataio.sinks import FileSink, read_destination
from runner.errors import StateError
from runner.records import ResultRow
from runner.stream.executor import StreamRun
from runner.stream.ledger import DIRTY, OPEN, SEALED, WRITTEN, Ledger


def row(cid, status="succeeded"):
    return ResultRow(custom_id=cid, status=status, usage={"input_tokens": 2, "output_tokens": 3})


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite", spec_name="s", revision="rev1")
    yield led
    led.close()


def test_a_new_ledger_is_fresh_and_a_reopened_one_is_not(tmp_path):
    path = tmp_path / "l.sqlite"
    first = Ledger.open(path, spec_name="s", revision="r")
    assert first.fresh
    first.close()
    assert not Ledger.open(path, spec_name="s", revision="r").fresh


def test_recorded_rows_are_durable_and_keep_their_full_result(ledger):
    ledger.record([row("a"), row("b", "errored")])
    other = sqlite3.connect(ledger.path)  # what a new process would see after a crash
    assert dict(other.execute("SELECT custom_id, status FROM results")) == {"a": "succeeded", "b": "errored"}
    assert [r.custom_id for r in ledger.rows()] == ["a", "b"]
    assert ledger.counts()["input_tokens"] == 4


def test_the_ledger_runs_in_wal_mode_with_full_sync(ledger):
    conn = ledger.reader()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_statuses_name_only_finished_rows(ledger):
    ledger.record([row("a"), row("b", "errored")])
    assert Ledger.statuses(ledger.reader(), ["a", "b", "c"]) == {"a": "succeeded", "b": "errored"}


def test_a_different_revision_is_refused_with_a_hint_to_restart(tmp_path, ledger):
    ledger.record([row("a")])
    ledger.close()
    with pytest.raises(StateError) as refused:
        Ledger.open(ledger.path, spec_name="s", revision="rev2")
    assert "--restart" in str(refused.value) and "changed" in str(refused.value)


def test_restart_empties_the_ledger_for_the_new_revision(ledger):
    ledger.record([row("a")])
    ledger.close()
    fresh = Ledger.open(ledger.path, spec_name="s", revision="rev2", restart=True)
    assert fresh.fresh and fresh.counts()["succeeded"] == 0
    assert fresh.meta()["revision"] == "rev2"


def test_rows_go_into_the_open_part_until_it_is_sealed(ledger):
    ledger.record([row("a")])
    ledger.record([row("b")])
    first = ledger.seal()
    ledger.record([row("c")])
    assert ledger.parts(SEALED) == [first]
    assert [r.custom_id for r in ledger.part_rows(first)] == ["a", "b"]
    assert len(ledger.parts(OPEN)) == 1


def test_a_re_sent_row_moves_to_the_open_part_and_leaves_its_old_part_dirty(ledger):
    ledger.record([row("a"), row("b", "errored")])
    old = ledger.seal()
    ledger.mark_written([old])
    ledger.record([row("b")])
    assert ledger.parts(DIRTY) == [old]
    assert [r.custom_id for r in ledger.part_rows(old)] == ["a"]
    assert ledger.counts()["errored"] == 0


def recover(ledger, sink):
    run = SimpleNamespace(ledger=ledger, sink=sink, _changed=lambda: StreamRun._changed(run))
    StreamRun._recover(run)


def test_rows_committed_but_never_written_reach_the_destination_on_resume(tmp_path, ledger):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    ledger.record([row("a"), row("b")])
    written = ledger.seal()
    sink.put(written, ledger.part_rows(written))
    ledger.mark_written([written])
    ledger.record([row("c")])  # killed here: committed, part still open
    recover(ledger, sink)
    assert sorted(r["custom_id"] for r in read_destination(sink)) == ["a", "b", "c"]
    assert ledger.parts(SEALED, OPEN, DIRTY) == []


def test_a_part_written_but_not_marked_is_not_duplicated_on_resume(tmp_path, ledger):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    ledger.record([row("a"), row("b")])
    part = ledger.seal()
    sink.put(part, ledger.part_rows(part))  # killed before mark_written
    recover(ledger, sink)
    assert sorted(r["custom_id"] for r in read_destination(sink)) == ["a", "b"]
    assert ledger.parts(WRITTEN) == [part]


def test_a_dirty_part_is_rewritten_without_its_stale_row(tmp_path, ledger):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    ledger.record([row("a"), row("b", "errored")])
    part = ledger.seal()
    sink.put(part, ledger.part_rows(part))
    ledger.mark_written([part])
    ledger.record([row("b")])  # re-sent; killed before its part was sealed
    recover(ledger, sink)
    stored = {r["custom_id"]: r["status"] for r in read_destination(sink)}
    assert stored == {"a": "succeeded", "b": "succeeded"}
    assert len(list(read_destination(sink))) == 2


def test_a_fresh_ledger_clears_results_left_at_the_destination(tmp_path, ledger):
    sink = FileSink(tmp_path / "r.jsonl", "r.jsonl")
    sink.put(1, [row("left-over")])
    recover(ledger, sink)
    assert list(read_destination(sink)) == []


def test_a_second_run_of_the_same_spec_is_refused_while_the_first_holds_the_ledger(ledger):
    with pytest.raises(StateError, match="in progress"):
        Ledger.open(ledger.path, spec_name="s", revision="rev1")
    ledger.close()
    Ledger.open(ledger.path, spec_name="s", revision="rev1").close()


def test_a_full_disk_is_reported_as_no_space_not_as_a_damaged_ledger(ledger, monkeypatch, tmp_path):
    from runner.errors import EXIT_CONFIG, translate

    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path))
    ledger.record([row("a")])
    pages = ledger._conn.execute("PRAGMA page_count").fetchone()[0]
    ledger._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
    with pytest.raises(sqlite3.OperationalError) as raised:
        ledger.record(
            [ResultRow(custom_id=f"big{i}", status="succeeded", error={"m": "x" * 4000}) for i in range(50)]
        )
    error = translate(raised.value)
    assert error is not None and error.exit_code == EXIT_CONFIG
    assert str(error).startswith(f"CLAUDE_JOBS_HOME: no space left on device for the state folder {tmp_path}")
    assert "move" not in str(error)
    ledger._conn.execute("PRAGMA max_page_count = 1073741823")  # space again: nothing was lost
    ledger.record([row("b")])
    assert ledger.counts()["succeeded"] == 2
