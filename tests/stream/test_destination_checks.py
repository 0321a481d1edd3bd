"""`claude-jobs run` refuses a destination it cannot write, or that holds data it did not write,
before the first request is sent: one located error line, nothing lost."""

from __future__ import annotations

import errno
import tempfile

from stream_helpers import write_spec

from runner.errors import EXIT_CONFIG, EXIT_INVALID


def test_a_read_only_destination_folder_fails_before_anything_is_sent(
    cli, state_home, quiet_vertex, monkeypatch
):
    # As root nothing is read-only but a read-only mount; this stands in for one.
    real_mkstemp = tempfile.mkstemp
    read_only = state_home / "out"
    read_only.mkdir()

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(read_only)):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    code, errors = cli("run", write_spec(state_home, rows=3), "--no-progress")
    assert code == EXIT_CONFIG
    assert errors == [
        "error: spec.yaml: $.destination: cannot write out/r.jsonl: Read-only file "
        "system (pick a file path in a writable folder; re-run to write the results "
        "from the ledger)"
    ]
    assert quiet_vertex.stats().get("requests", 0) == 0


def test_a_first_run_refuses_a_destination_holding_data_it_did_not_write(cli, state_home, quiet_vertex):
    (state_home / "out").mkdir()
    (state_home / "out" / "r.jsonl").write_text('{"someone": "else"}\n')
    code, errors = cli("run", write_spec(state_home, rows=3), "--no-progress")
    assert code == EXIT_INVALID
    assert errors == [
        "error: spec.yaml: $.destination: out/r.jsonl already holds results this "
        "spec's runs did not write; nothing was sent (choose a new destination, or "
        "pass --restart to replace it)"
    ]
    assert (state_home / "out" / "r.jsonl").read_text() == '{"someone": "else"}\n'
    assert quiet_vertex.stats().get("requests", 0) == 0


def test_restart_replaces_a_destination_holding_data_it_did_not_write(cli, state_home, quiet_vertex):
    (state_home / "out").mkdir()
    (state_home / "out" / "r.jsonl").write_text('{"someone": "else"}\n')
    code, errors = cli("run", write_spec(state_home, rows=3), "--no-progress", "--restart")
    assert (code, errors) == (0, [])
    assert len((state_home / "out" / "r.jsonl").read_text().splitlines()) == 3
