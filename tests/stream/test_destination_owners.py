"""One spec per destination, with the default local state folder (hardening issue, items 2 and 3).

Two specs with different names and one `destination`: started at once, one is
refused and the file holds each custom_id once; after `b --restart` took the
destination over, `a` is refused rather than rebuilding the file from its ledger.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from forked_cli import start_cli
from stream_helpers import QUIET, write_spec

from runner.errors import EXIT_INVALID

ROWS = 400


def two_specs(folder: Path) -> None:
    for name in ("a", "b"):
        (folder / name).mkdir()
        write_spec(folder / name, rows=ROWS, name=name, destination="../results/shared.jsonl")
        # b's answers differ from a's: the file shows whose results it holds.
        if name == "b":
            spec = json.loads((folder / "b" / "spec.yaml").read_text())
            spec["template"]["messages"][0]["content"] = "b asks: {{ q }}"
            (folder / "b" / "spec.yaml").write_text(json.dumps(spec))


def start(folder: Path, spec: str, *flags, forks=None):
    """`claude-jobs run SPEC`: exec'd, or forked from `forks` (tests/forked_cli.py)."""
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / "state")}  # one machine, one state folder
    env.pop("CLAUDE_JOBS_STATE", None)
    return start_cli(["run", spec, "--no-progress", *flags], cwd=folder, env=env, forks=forks)


def lines(folder: Path) -> list[dict]:
    path = folder / "results" / "shared.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_specs_racing_for_one_destination_never_both_write_it(tmp_path, vertex_config):
    vertex_config(QUIET)
    two_specs(tmp_path)
    runs = {name: start(tmp_path, f"{name}/spec.yaml") for name in ("a", "b")}
    outcome = {name: p.communicate(timeout=300) + (p.returncode,) for name, p in runs.items()}
    codes = sorted(code for *_, code in outcome.values())
    assert codes == [0, EXIT_INVALID], {k: v[1].decode()[-400:] for k, v in outcome.items()}
    loser = next(name for name, (*_, code) in outcome.items() if code == EXIT_INVALID)
    winner = "ab".replace(loser, "")
    error = outcome[loser][1].decode().strip().splitlines()[-1]
    assert error.startswith(
        f"error: {loser}/spec.yaml: $.destination: ../results/shared.jsonl belongs to spec "
    )
    assert f"'{winner}'" in error and "nothing was sent" in error
    rows = lines(tmp_path)
    assert len(rows) == ROWS
    assert not [cid for cid, n in Counter(r["custom_id"] for r in rows).items() if n > 1]


def test_a_spec_never_takes_back_a_destination_another_spec_took_over(tmp_path, vertex_config, forked_cli):
    vertex_config(QUIET)
    two_specs(tmp_path)
    assert start(tmp_path, "a/spec.yaml", forks=forked_cli).wait(timeout=300) == 0
    assert start(tmp_path, "b/spec.yaml", forks=forked_cli).wait(timeout=300) == EXIT_INVALID  # a owns it
    b = start(tmp_path, "b/spec.yaml", "--restart", forks=forked_cli)
    assert b.wait(timeout=300) == 0, b.communicate()[1].decode()
    taken = (tmp_path / "results" / "shared.jsonl").read_bytes()
    a = start(tmp_path, "a/spec.yaml", forks=forked_cli)
    out, err = a.communicate(timeout=300)
    assert a.returncode == EXIT_INVALID, out.decode() + err.decode()
    assert "../results/shared.jsonl belongs to spec 'b'" in err.decode()
    assert (tmp_path / "results" / "shared.jsonl").read_bytes() == taken  # b's rows, untouched
    # a can take it back only by saying so.
    again = start(tmp_path, "a/spec.yaml", "--restart", forks=forked_cli)
    assert again.wait(timeout=300) == 0
    assert len(lines(tmp_path)) == ROWS
