"""plan/apply as a pipeline sees them: offline mode, invalid specs, exit codes, bounded counting."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gitops_repo import STREAM_EXAMPLES, make_repo

from runner.clients import Target
from runner.records import RunOptions, RunSummary

BAD_SPEC = """\
name: broken
model: claude-haiku-4-5@20251001
mode: fast
destination: results/broken.jsonl
prompts:
  - custom_id: a
    messages: [{role: user, content: hi}]
"""


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt or target/stack start fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("plan --offline tried to reach the network or start the stack")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr("runner.cli.targets.open_target", refuse)
    monkeypatch.setattr("runner.local.stack.ensure_up", refuse)


def test_offline_plan_estimates_local_inputs_without_network_or_stack(repo, no_network):
    code, plan = repo.json("plan", "jobs/", "--offline")
    assert code == 0, plan
    assert plan["offline"] is True
    specs = repo.specs_by_name(plan)
    assert {s["state"] for s in specs.values()} == {"unknown"}
    inline = specs[repo.name("stream-inline")]
    assert inline["token_method"] == "estimated" and inline["requests"] == 5
    assert inline["input_tokens"] > 0 and inline["cost_usd"] > 0
    remote = specs[repo.name("batch-gcs-to-gcs")]
    assert remote["requests"] is None and remote["cost_usd"] is None
    assert "remote input" in remote["notes"][0]


def test_offline_detailed_exitcode_counts_an_unknown_state_as_a_change(repo, no_network):
    assert repo.cli("plan", "jobs/", "--offline", "--detailed-exitcode").code == 6


def test_plan_exits_1_on_an_invalid_spec_and_still_plans_the_valid_ones(repo, no_network):
    (repo.jobs / "broken.yaml").write_text(BAD_SPEC)
    code, plan = repo.json("plan", "jobs/", "--offline", "--detailed-exitcode")
    assert code == 1
    assert plan["valid"] is False
    assert len(plan["errors"]) == 1 and "broken.yaml:3:" in plan["errors"][0]
    assert repo.name("stream-inline") in repo.specs_by_name(plan)


def test_apply_runs_nothing_when_any_spec_is_invalid(repo, no_network):
    (repo.jobs / "broken.yaml").write_text(BAD_SPEC)
    done = repo.cli("apply", "jobs/")
    assert done.code == 1
    assert "broken.yaml:3:" in done.stderr and "nothing was applied" in done.stderr
    assert not (repo.root / ".claude-jobs").exists()


def test_plan_of_a_missing_path_is_a_usage_error(repo, no_network):
    done = repo.cli("plan", "nowhere/", "--offline")
    assert done.code == 2 and "nowhere" in done.stderr


@pytest.mark.parametrize(
    "command, lines",
    [
        ("plan", ["Exit codes:", "1  at least one spec is invalid", "6  valid specs and something to run"]),
        (
            "apply",
            [
                "Exit codes:",
                "1  at least one spec is invalid: nothing was run",
                "5  a run ended with failed rows",
            ],
        ),
    ],
)
def test_help_documents_the_exit_codes(command, lines):
    cli = Path(sys.executable).parent / "claude-jobs"
    done = subprocess.run([str(cli), command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for line in lines:
        assert line in done.stdout


def test_token_counting_is_bounded_by_the_sample_size_and_extrapolated(tmp_path, local_stack, monkeypatch):
    import runner.render.token_estimates

    repo = make_repo(tmp_path / "repo", STREAM_EXAMPLES)
    exact = runner.render.token_estimates.count_tokens
    calls = []

    async def counting(client, model, body):
        calls.append(body)
        return await exact(client, model, body)

    monkeypatch.setattr(runner.render.token_estimates, "count_tokens", counting)
    name = repo.name("stream-template-csv-image")
    _, full = repo.json("plan", "jobs/", "--local")
    all_calls = len(calls)
    calls.clear()
    _, sampled = repo.json("plan", "jobs/", "--local", "--sample-size", "4")

    counted, estimated = repo.specs_by_name(full)[name], repo.specs_by_name(sampled)[name]
    assert counted["token_method"] == "counted" and all_calls == 5 + counted["requests"]
    assert len(calls) == 4 + 4  # 4 per spec (stream-inline has 5 requests)
    assert estimated["token_method"] == "sampled" and estimated["sampled"] == 4
    assert f"extrapolated from 4 of {counted['requests']} requests" in estimated["notes"][-1]
    assert estimated["input_tokens"] == pytest.approx(counted["input_tokens"], rel=0.25)


def test_an_interrupted_stream_run_is_incomplete_and_apply_resumes_it(repo, monkeypatch):
    from runner.gitops.plan import PlanOptions, plan_spec
    from runner.render.revision import spec_revision
    from runner.spec import load_spec

    spec = load_spec(repo.jobs / "stream-inline.yaml")
    monkeypatch.setattr(
        "runner.stream.stream_status",
        lambda spec, target=None, **_: {"revision": spec_revision(spec, None), "succeeded": 2, "errored": 1},
    )
    line = asyncio.run(plan_spec(spec, Target(project="p"), PlanOptions(count_tokens=False)))
    assert (line.state, line.requests, line.will_run) == ("incomplete", 5, True)
    assert "3 of 5 rows finished" in line.detail


def test_apply_restarts_changed_specs_and_resumes_new_and_incomplete_ones(repo, monkeypatch):
    import runner.gitops.apply
    from runner.gitops.plan import SpecPlan
    from runner.spec import load_spec

    specs = [
        load_spec(repo.jobs / f)
        for f in ("stream-inline.yaml", "stream-template-csv-image.yaml", "batch-gcs-to-gcs.yaml")
    ]
    states = dict(zip((s.name for s in specs), ("changed", "incomplete", "up-to-date")))

    async def fake_plan(s, target, options):
        return SpecPlan(
            name=s.name,
            path="",
            mode=s.mode,
            model=s.model,
            region=s.region,
            destination=s.destination,
            state=states[s.name],
        )

    ran = {}

    def fake_execute(spec, target, options):
        ran[spec.name] = options.restart
        return RunSummary(spec=spec.name, mode=spec.mode, target="t", total=1, succeeded=1)

    monkeypatch.setattr(runner.gitops.apply, "plan_spec", fake_plan)
    monkeypatch.setattr(runner.gitops.apply, "execute", fake_execute)
    result = runner.gitops.apply.apply(specs, Target(project="p"), RunOptions())
    assert ran == {specs[0].name: True, specs[1].name: False}
    assert result.exit_code == 0 and [a.ran for a in result.applied] == [True, True, False]


def test_apply_keeps_going_after_a_failed_spec_and_exits_with_its_code(repo, monkeypatch):
    import runner.gitops.apply
    from runner.errors import EXIT_JOB_FAILED, RemoteError
    from runner.gitops.plan import SpecPlan
    from runner.spec import load_spec

    specs = [
        load_spec(repo.jobs / f)
        for f in ("stream-inline.yaml", "batch-gcs-to-gcs.yaml", "stream-template-csv-image.yaml")
    ]

    async def all_new(s, target, options):
        return SpecPlan(
            name=s.name,
            path="",
            mode=s.mode,
            model=s.model,
            region=s.region,
            destination=s.destination,
            state="new",
        )

    def execute(spec, target, options):
        if spec.mode == "batch":
            raise RemoteError("Vertex said no", status=500)
        failed = "template" in spec.name
        return RunSummary(
            spec=spec.name,
            mode=spec.mode,
            target="t",
            total=2,
            succeeded=1 if failed else 2,
            errored=1 if failed else 0,
        )

    monkeypatch.setattr(runner.gitops.apply, "plan_spec", all_new)
    monkeypatch.setattr(runner.gitops.apply, "execute", execute)
    result = runner.gitops.apply.apply(specs, Target(project="p"), RunOptions())
    assert [a.exit_code for a in result.applied] == [0, RemoteError.exit_code, EXIT_JOB_FAILED]
    assert result.exit_code == RemoteError.exit_code


def test_a_failing_count_tokens_call_falls_back_to_the_estimate_and_says_why(repo, monkeypatch):
    import runner.render.token_estimates
    from runner.errors import RemoteError
    from runner.gitops.plan import PlanOptions, plan_spec
    from runner.spec import load_spec

    async def refused(client, model, body):
        raise RemoteError("count-tokens failed for m: model not enabled", status=400)

    monkeypatch.setattr(runner.render.token_estimates, "count_tokens", refused)
    monkeypatch.setattr("runner.gitops.plan.read_state", lambda spec, target, line, state=None: None)
    spec = load_spec(repo.jobs / "stream-inline.yaml")
    target = Target(project="p", local=True, vertex_url="http://127.0.0.1:9")
    line = asyncio.run(plan_spec(spec, target, PlanOptions()))
    assert line.token_method == "estimated" and line.input_tokens > 0 and line.cost_usd > 0
    assert "model not enabled" in line.notes[-1]


def test_a_row_that_fails_to_render_is_an_error_of_its_spec_and_the_others_are_planned(repo):
    csv = repo.jobs / "data" / "tickets.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",missing.png"
    csv.write_text("\n".join(lines) + "\n")
    code, plan = repo.json("plan", "jobs/", "--offline")
    assert code == 1
    assert len(plan["errors"]) == 1
    assert plan["errors"][0].startswith(
        "jobs/examples/stream-template-csv-image.yaml:27:38: "
        "$.template.messages[0].content[1].source.path: "
        "cannot read image jobs/examples/"
    )
    assert "missing.png: No such file or directory in jobs/examples/data/tickets.csv:3 " in plan["errors"][0]
    assert repo.name("stream-template-csv-image") not in repo.specs_by_name(plan)
    assert repo.name("stream-inline") in repo.specs_by_name(plan)


def test_plan_opens_no_target_when_no_spec_is_valid(tmp_path, no_network):
    repo = make_repo(tmp_path / "repo", ("stream-inline.yaml",))
    (repo.jobs / "stream-inline.yaml").write_text(BAD_SPEC)
    code, plan = repo.json("plan", "jobs/")
    assert code == 1 and plan["specs"] == [] and len(plan["errors"]) == 1
