"""Every batch example in jobs/examples runs to SUCCEEDED, joined to its source, exactly once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from batch_harness import destination_rows, run

from runner.spec import load_spec

EXAMPLES = sorted((Path(__file__).parents[2] / "jobs" / "examples").glob("batch-*.yaml"))


@pytest.mark.usefixtures("server")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_batch_example_succeeds_and_a_second_run_submits_nothing(local_stack, path, tmp_path, monkeypatch):
    # A copy, so results left in the working tree by earlier runs are not this run's destination.
    examples = tmp_path / "examples"
    shutil.copytree(path.parent, examples, ignore=shutil.ignore_patterns("results"))
    monkeypatch.chdir(tmp_path)
    spec = load_spec(str(examples / path.name))
    first = run(spec, local_stack)
    assert (first.state, first.ok) == ("done", True), first.details.get("report")
    assert set(first.details["job_states"].values()) == {"SUCCEEDED"}
    rows = destination_rows(spec, local_stack)
    assert len(rows) == len({r["custom_id"] for r in rows}) == first.total == first.succeeded > 0
    again = run(spec, local_stack)
    assert again.details["created"] == [] and again.jobs == first.jobs
