"""A plan renders as JSON for pipelines, Markdown for pull requests and a table for people."""

from __future__ import annotations

import io
import json

from rich.console import Console

from runner.gitops.plan import Plan, SpecPlan
from runner.gitops.plan_format import MARKDOWN_MARKER, markdown, print_table, render, summary_line


def _plan() -> Plan:
    common = dict(
        mode="stream",
        model="claude-haiku-4-5@20251001",
        region="us-east5",
        requests=3,
        output_tokens_max=3072,
        token_method="counted",
        sampled=3,
    )
    return Plan(
        target="local stack",
        specs=[
            SpecPlan(
                name="fresh",
                path="jobs/fresh.yaml",
                destination="results/fresh.jsonl",
                state="new",
                revision="aaaa",
                input_tokens=120,
                cost_usd=0.0124,
                **common,
            ),
            SpecPlan(
                name="edited",
                path="jobs/edited.yaml",
                destination="gs://b/out",
                state="changed",
                revision="bbbb",
                previous_revision="cccc",
                input_tokens=90,
                cost_usd=0.5,
                **common,
            ),
            SpecPlan(
                name="done",
                path="jobs/done.yaml",
                destination="bq://p.d.t",
                state="up-to-date",
                revision="dddd",
                input_tokens=30,
                cost_usd=2.0,
                **common,
            ),
        ],
    )


def test_json_lists_every_spec_with_its_state_and_numbers():
    data = json.loads(render(_plan(), "json"))
    assert [(s["name"], s["state"], s["will_run"]) for s in data["specs"]] == [
        ("fresh", "new", True),
        ("edited", "changed", True),
        ("done", "up-to-date", False),
    ]
    assert data["summary"] == {"new": 1, "changed": 1, "incomplete": 0, "up-to-date": 1, "unknown": 0}
    assert data["has_changes"] is True and data["valid"] is True
    assert data["specs"][0]["input_tokens"] == 120
    assert data["specs"][0]["output_tokens_max"] == 3072


def test_json_total_cost_counts_only_the_specs_that_would_run():
    data = json.loads(render(_plan(), "json"))
    assert data["total_cost_usd"] == 0.0124 + 0.5 and data["cost_unknown"] == 0


def test_an_offline_plan_totals_the_cost_of_every_spec_and_counts_those_of_unknown_cost():
    plan = _plan()
    plan.offline = True
    for spec in plan.specs:
        spec.state = "unknown"
    plan.specs[2].cost_usd = None
    assert summary_line(plan) == (
        "Plan (offline, state not read): 3 spec(s); max cost if all run $0.5124 + 1 spec(s) of unknown cost."
    )


def test_a_plan_where_everything_is_up_to_date_has_no_changes():
    plan = _plan()
    plan.specs = plan.specs[2:]
    assert not plan.has_changes and plan.changes == []


def test_an_unknown_state_counts_as_a_change_but_is_not_run():
    plan = _plan()
    plan.specs[2].state = "unknown"
    plan.specs = plan.specs[2:]
    assert plan.has_changes and plan.changes == []


def test_markdown_is_a_marked_comment_with_a_summary_and_one_table_row_per_spec():
    text = markdown(_plan())
    lines = text.splitlines()
    assert lines[0] == MARKDOWN_MARKER
    assert "Plan: 2 to run (1 new, 1 changed), 1 up to date; max cost of the runs $0.5124." in lines
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 1 + 3  # header + specs
    assert "| + | `fresh` | **new** | stream |" in rows[1]
    assert "| = | `done` | up-to-date |" in rows[3]
    assert "edited: revision cccc -> bbbb" in text


def test_markdown_shows_invalid_specs_before_anything_else():
    plan = _plan()
    plan.errors = ["jobs/bad.yaml:3:7: $.mode: 'fast' is not one of ['batch', 'stream']"]
    text = markdown(plan)
    assert text.index("Invalid specs") < text.index("| spec |")
    assert plan.errors[0] in text
    assert "1 error(s) in invalid specs" in text


def test_markdown_escapes_pipes_in_cells():
    plan = _plan()
    plan.specs[0].destination = "results/a|b.jsonl"
    assert "results/a\\|b.jsonl" in markdown(plan)


def test_extrapolated_and_estimated_token_counts_are_marked():
    plan = _plan()
    plan.specs[0].token_method, plan.specs[0].input_tokens = "sampled", 1_234_567
    plan.specs[1].token_method = "estimated"
    plan.specs[0].notes.append("input tokens extrapolated from 200 of 50000 requests")
    text = markdown(plan)
    assert "≈1,234,567" in text and "~90" in text
    assert "fresh: input tokens extrapolated from 200 of 50000 requests" in text


def test_the_table_shows_each_spec_and_the_summary():
    out = io.StringIO()
    print_table(_plan(), Console(file=out, width=250, color_system=None))
    text = out.getvalue()
    for name in ("fresh", "edited", "done", "new", "changed", "up-to-date"):
        assert name in text
    assert "Plan: 2 to run (1 new, 1 changed), 1 up to date" in text


def test_a_narrow_console_gets_one_block_per_spec_instead_of_a_table():
    out = io.StringIO()
    print_table(_plan(), Console(file=out, width=80, color_system=None))
    lines = out.getvalue().splitlines()
    assert any(line.startswith("+ new") and "fresh" in line for line in lines)
    assert any(line.startswith("~ changed") and "edited" in line for line in lines)
    assert "      3 requests, 120 input tokens, 3,072 max output tokens, max cost $0.0124" in lines
    assert "      -> bq://p.d.t" in lines
