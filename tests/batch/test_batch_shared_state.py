"""Batch with the state in Cloud Storage: the same spec on two machines at once submits each
part exactly once (the submission claims live in the shared state location)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from batch_harness import destination_rows, jobs_of, run

CLI = str(Path(sys.executable).with_name("claude-jobs"))


def start(spec, machine: str, state: str, *flags):
    folder = Path(spec.path).parent
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(folder / f"machine-{machine}"), "CLAUDE_JOBS_STATE": state}
    return subprocess.Popen(
        [CLI, "run", str(spec.path), "--no-progress", *flags],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_same_spec_on_two_machines_at_once_submits_each_part_exactly_once(
    local_stack, make_spec, server, source_ids, monkeypatch
):
    spec = make_spec(batch={"max_requests_per_job": 8})
    state = f"gs://claude-jobs-local/state-tests/{uuid.uuid4().hex[:10]}"
    runs = [start(spec, machine, state, "--no-wait") for machine in "AB"]
    for process in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-2000:]
    jobs = jobs_of(spec, local_stack)
    parts = Counter(j.labels["claude-jobs-part"] for j in jobs)
    assert parts == {"0": 1, "1": 1, "2": 1}, parts
    # Either machine collects, from the same jobs; nothing is submitted again.
    monkeypatch.setenv("CLAUDE_JOBS_STATE", state)
    summary = run(spec, local_stack, state=state)
    assert summary.details["created"] == []
    assert sorted(r["custom_id"] for r in destination_rows(spec, local_stack)) == source_ids
