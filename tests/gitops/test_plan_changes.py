"""Changing one spec (or an input it reads) makes exactly that spec "changed"; apply reruns it."""

from __future__ import annotations

import pytest

INLINE = "stream-inline.yaml"
TEMPLATE = "stream-template-csv-image.yaml"
HAIKU = "Write a haiku thanking our support team."


@pytest.fixture
def applied_streams(stream_repo):
    code, first = stream_repo.json("apply", "jobs/", "--local", "--no-progress")
    assert code == 0 and first["ran"] == 2, first
    return stream_repo


def test_changing_one_prompt_makes_exactly_that_spec_changed(applied_streams):
    repo = applied_streams
    repo.edit(INLINE, HAIKU, "Write a limerick thanking our support team.")
    code, plan = repo.json("plan", "jobs/", "--local", "--detailed-exitcode")
    assert code == 6
    states = {s["name"]: s["state"] for s in plan["specs"]}
    assert states == {repo.name(INLINE): "changed", repo.name(TEMPLATE): "up-to-date"}
    changed = repo.specs_by_name(plan)[repo.name(INLINE)]
    assert changed["previous_revision"] and changed["previous_revision"] != changed["revision"]


def test_apply_after_a_change_reruns_only_the_changed_spec_from_the_start(applied_streams):
    repo = applied_streams
    repo.edit(INLINE, HAIKU, "Write a limerick thanking our support team.")
    code, second = repo.json("apply", "jobs/", "--local", "--no-progress")
    assert code == 0, second
    actions = {s["spec"]: s["action"] for s in second["specs"]}
    assert actions == {repo.name(INLINE): "run", repo.name(TEMPLATE): "skip"}
    summary = next(s["summary"] for s in second["specs"] if s["spec"] == repo.name(INLINE))
    # The new revision starts over: every row is sent again, none is skipped as already done.
    assert summary["skipped"] == 0 and summary["succeeded"] == summary["total"] == 5
    code, plan = repo.json("plan", "jobs/", "--local", "--detailed-exitcode")
    assert code == 0 and {s["state"] for s in plan["specs"]} == {"up-to-date"}


def test_changing_a_data_file_a_template_reads_makes_that_spec_changed(applied_streams):
    repo = applied_streams
    csv = repo.jobs / "data" / "tickets.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n")  # drop the last row
    code, plan = repo.json("plan", "jobs/", "--local")
    assert code == 0
    states = {s["name"]: s["state"] for s in plan["specs"]}
    assert states == {repo.name(INLINE): "up-to-date", repo.name(TEMPLATE): "changed"}


def test_the_markdown_plan_bolds_the_changed_spec_for_the_pull_request(applied_streams):
    repo = applied_streams
    repo.edit(INLINE, HAIKU, "Write a limerick thanking our support team.")
    done = repo.cli("plan", "jobs/", "--local", "--format", "markdown")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("<!-- claude-jobs-plan -->\n### claude-jobs plan")
    assert "Plan: 1 to run (0 new, 1 changed), 1 up to date" in done.stdout
    assert f"| ~ | `{repo.name(INLINE)}` | **changed** | stream |" in done.stdout
    assert f"| = | `{repo.name(TEMPLATE)}` | up-to-date | stream |" in done.stdout
