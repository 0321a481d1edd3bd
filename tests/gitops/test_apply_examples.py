"""Done when: plan then apply on jobs/examples runs each example once; a second apply runs nothing.

One repository for the module: applying every example (three batch jobs) is
the expensive step, so it happens once and each test checks one consequence.
"""

from __future__ import annotations

import pytest
from gitops_repo import EXAMPLES, fast_batch_jobs, make_repo

from runner.spec.catalog import catalog

EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def applied(tmp_path_factory, local_stack):
    """The examples planned, applied once, then applied and planned again."""
    repo = make_repo(tmp_path_factory.mktemp("examples") / "repo")
    with fast_batch_jobs(local_stack.vertex_url):
        before = repo.json("plan", "jobs/", "--local")
        first = repo.json("apply", "jobs/", "--local", "--no-progress")
        second = repo.cli("apply", "jobs/", "--local", "--no-progress")  # the text output
        after = repo.json("plan", "jobs/", "--local", "--detailed-exitcode")
    return repo, before, first, second, after


def test_plan_marks_every_example_new_before_the_first_apply(applied):
    repo, (code, plan), *_ = applied
    assert code == 0
    assert sorted(s["name"] for s in plan["specs"]) == sorted(repo.name(f) for f in EXAMPLE_FILES)
    assert {s["state"] for s in plan["specs"]} == {"new"}
    assert all(s["requests"] > 0 and s["token_method"] == "counted" for s in plan["specs"])


def test_plan_prices_each_spec_from_the_catalog_with_the_batch_discount_for_batch(applied):
    _, (_, plan), *_ = applied
    for spec in plan["specs"]:
        info = catalog().get(spec["model"])
        expected = info.cost_usd(
            spec["input_tokens"], spec["output_tokens_max"], batch=spec["mode"] == "batch"
        )
        assert spec["cost_usd"] == pytest.approx(expected), spec["name"]
    assert plan["total_cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in plan["specs"]))


def test_apply_runs_each_example_once_and_every_row_succeeds(applied):
    _repo, _, (code, first), *_ = applied
    assert code == 0, first
    assert first["ran"] == len(EXAMPLE_FILES)
    for spec in first["specs"]:
        summary = spec["summary"]
        assert spec["action"] == "run" and spec["error"] is None, spec
        assert summary["total"] > 0 and summary["succeeded"] == summary["total"], spec


def test_a_second_apply_runs_nothing(applied):
    repo, *_, second, _ = applied
    assert second.code == 0, second.stderr
    lines = second.stdout.splitlines()
    assert lines[-1] == f"Apply: 0 spec(s) run, {len(EXAMPLE_FILES)} up to date."
    for example in EXAMPLE_FILES:
        assert any(
            line.startswith(f"{repo.name(example)}: up to date (") and line.endswith("), nothing to run")
            for line in lines
        ), example


def test_plan_after_apply_shows_every_spec_up_to_date_with_exit_code_0(applied):
    *_, (code, after) = applied
    assert code == 0, after  # --detailed-exitcode: no changes
    assert {s["state"] for s in after["specs"]} == {"up-to-date"}
    assert after["has_changes"] is False
