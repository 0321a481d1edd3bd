"""The GitHub workflows and the pre-commit hook file are valid and call only real commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from runner.cli import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHELL_OPERATORS = {">", ">>", "|", "||", "&&", ";", "2>&1", "<"}


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def _run_lines(workflow: dict):
    for job_name, step in _steps(workflow):
        for line in step.get("run", "").splitlines():
            yield job_name, line.strip()


def _command_invocations(line: str):
    """Each `claude-jobs CMD args...` in a shell line, args up to the next shell operator."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    for i, word in enumerate(words):
        if word.rsplit("/", 1)[-1] == "claude-jobs" and i + 1 < len(words):
            args = []
            for arg in words[i + 2 :]:
                if arg in SHELL_OPERATORS or arg.startswith((">", "|")):
                    break
                args.append(arg)
            yield words[i + 1], args


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.M))


def test_there_are_workflows_for_pull_requests_and_for_main():
    triggers = [_load(p)["on"] for p in WORKFLOWS]
    assert any("pull_request" in t for t in triggers)
    assert any("push" in t and t["push"]["branches"] == ["main"] for t in triggers)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_claude_jobs_command_in_a_workflow_exists_with_its_flags(path):
    calls = [
        (job, cmd, args) for job, line in _run_lines(_load(path)) for cmd, args in _command_invocations(line)
    ]
    for job, cmd, args in calls:
        command = cli.get_command(None, cmd)
        assert command is not None, f"{path.name} job {job}: `claude-jobs {cmd}` does not exist"
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for arg in args:
            if arg.startswith("--"):
                assert arg.split("=")[0] in known, f"{path.name}: `claude-jobs {cmd} {arg}` unknown"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_target_in_a_workflow_exists_in_the_makefile(path):
    targets = _make_targets()
    for job, line in _run_lines(_load(path)):
        for target in re.findall(r"(?:^|[;&|]\s*)make\s+([A-Za-z0-9_.-]+)", line):
            assert target in targets, f"{path.name} job {job}: `make {target}` not in the Makefile"


def test_the_pull_request_workflow_tests_validates_and_comments_the_markdown_plan():
    flow = _load(ROOT / ".github/workflows/pull-request.yml")
    lines = [line for _, line in _run_lines(flow)]
    assert any(line == "make test" for line in lines)
    assert any("claude-jobs validate jobs/" in line for line in lines)
    assert any(re.search(r"claude-jobs plan jobs/ --format markdown", line) for line in lines)
    plan_job = flow["jobs"]["plan"]
    assert plan_job["permissions"]["pull-requests"] == "write"
    scripts = [s for _, s in _steps(flow) if s.get("uses", "").startswith("actions/github-script")]
    assert scripts and "createComment" in scripts[0]["with"]["script"]


def test_merges_to_main_authenticate_with_workload_identity_and_never_with_keys():
    flow = _load(ROOT / ".github/workflows/deploy.yml")
    auth = [
        (job, s) for job, s in _steps(flow) if s.get("uses", "").startswith("google-github-actions/auth@")
    ]
    # pulumi up runs as the deployer; jobs run as the runner, which cannot change the platform.
    accounts = {
        "infra": "${{ vars.GCP_DEPLOYER_SERVICE_ACCOUNT }}",
        "apply": "${{ vars.GCP_SERVICE_ACCOUNT }}",
    }
    assert {job for job, _ in auth} == set(accounts)
    for job, step in auth:
        assert step["with"]["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
        assert step["with"]["service_account"] == accounts[job]
        assert "credentials_json" not in step["with"]
        assert flow["jobs"][job]["permissions"]["id-token"] == "write"
    assert "credentials_json" not in (ROOT / ".github/workflows/deploy.yml").read_text()


def test_merges_to_main_run_pulumi_up_only_for_infra_changes_and_apply_for_spec_changes():
    flow = _load(ROOT / ".github/workflows/deploy.yml")
    filters = yaml.safe_load(
        next(s for _, s in _steps(flow) if s.get("uses", "").startswith("dorny/paths-filter@"))["with"][
            "filters"
        ]
    )
    assert set(filters["infra"]) == {"infra/**", "Pulumi*.yaml"}
    assert "jobs/**" in filters["jobs"]
    assert "outputs.infra == 'true'" in flow["jobs"]["infra"]["if"]
    pulumi = next(s for _, s in _steps(flow) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "up"
    assert "outputs.jobs == 'true'" in flow["jobs"]["apply"]["if"]
    assert any("claude-jobs apply jobs/" in line for _, line in _run_lines(flow))


def test_two_merges_never_apply_at_the_same_time():
    flow = _load(ROOT / ".github/workflows/deploy.yml")
    assert flow["concurrency"]["cancel-in-progress"] is False
    assert "${{ github.run_id }}" not in flow["concurrency"]["group"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path):
    for _job, step in _steps(_load(path)):
        if "uses" in step:
            assert re.search(r"@(v\d+|[0-9a-f]{40})$", step["uses"]), f"{path.name}: {step['uses']}"


def test_the_pre_commit_hook_runs_claude_jobs_validate_on_job_specs():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    hook = next(h for h in hooks if h["id"] == "claude-jobs-validate")
    assert {"id", "name", "entry", "language"} <= hook.keys()
    assert hook["language"] == "python"
    script, command = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert script in scripts
    assert cli.get_command(None, command) is not None
    files = re.compile(hook["files"])
    assert files.search("jobs/examples/stream-inline.yaml")
    assert files.search("jobs/team/nightly.yml")
    assert not files.search("schemas/job.schema.json")
    assert not files.search("infra/Pulumi.dev.yaml")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_workflow_copies_state_around_it_comes_from_the_stack_outputs(path):
    flow = _load(path)
    assert not any("rsync" in line or "CLAUDE_JOBS_STATE_URI" in line for _, line in _run_lines(flow))
    for _job, step in _steps(flow):
        lines = [line.strip() for line in step.get("run", "").splitlines()]
        if any(line.startswith(("claude-jobs apply", "claude-jobs plan")) for line in lines):
            assert step["env"]["CLAUDE_JOBS_STATE"] == "${{ steps.stack.outputs.stateUri }}"


def test_deploy_reads_the_state_location_before_apply_and_waits_for_a_held_lock():
    steps = _load(ROOT / ".github/workflows/deploy.yml")["jobs"]["apply"]["steps"]
    outputs = next(i for i, s in enumerate(steps) if s.get("id") == "stack")
    assert steps[outputs]["uses"].startswith("pulumi/actions@")
    assert steps[outputs]["with"]["command"] == "output"
    apply = next(i for i, s in enumerate(steps) if "claude-jobs apply" in s.get("run", ""))
    assert outputs < apply
    assert "--wait-lock" in steps[apply]["run"]


def test_the_pre_commit_hook_entry_passes_valid_specs_and_fails_an_invalid_one(tmp_path):
    """pre-commit runs `entry` with the matching staged files appended."""
    hook = next(
        h
        for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
        if h["id"] == "claude-jobs-validate"
    )
    files = re.compile(hook["files"])
    specs = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "jobs").rglob("*.y*ml"))]
    staged = [p for p in specs if files.search(p)]
    assert staged, "no example spec matches the hook's files pattern"
    script, *args = hook["entry"].split()
    entry = [str(Path(sys.executable).parent / script), *args]
    ok = subprocess.run([*entry, *staged], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "jobs" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("name: Bad Name\n")
    failed = subprocess.run([*entry, str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "bad.yaml:1:" in failed.stdout + failed.stderr


def test_merges_to_main_report_after_apply_upload_the_pages_and_link_them_from_the_summary():
    steps = _load(ROOT / ".github/workflows/deploy.yml")["jobs"]["apply"]["steps"]
    apply = next(i for i, s in enumerate(steps) if "claude-jobs apply" in s.get("run", ""))
    report = next(i for i, s in enumerate(steps) if "claude-jobs report jobs/" in s.get("run", ""))
    upload = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-artifact@"))
    link = next(i for i, s in enumerate(steps) if "upload-report.outputs.artifact-url" in str(s.get("env")))
    assert apply < report < upload < link
    assert "failure" in steps[report]["if"]  # failed rows are when the report helps most
    assert steps[upload]["with"]["path"] == "report/" and "--output report/" in steps[report]["run"]
    assert "GITHUB_STEP_SUMMARY" in steps[link]["run"]
