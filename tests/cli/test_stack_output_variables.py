"""The CLAUDE_JOBS_* stack-output variables: validate, plan, apply and run read them, the flag wins.

docs/infra.md tells CI to set them instead of passing `--stack-outputs FILE`; both must give the
same findings. A bad variable is one usage-error line naming it (exit 2).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]
BATCH_GCS = "jobs/examples/batch-gcs-to-gcs.yaml"
PLATFORM = {
    "project": "acme-claude-prod",
    "region": "us-east5",
    "bucket": "other-bucket",
    "bigquery_datasets": ["claude_jobs_inputs"],
}
VARIABLES = {
    "CLAUDE_JOBS_PROJECT": "acme-claude-prod",
    "CLAUDE_JOBS_REGION": "us-east5",
    "CLAUDE_JOBS_BUCKET": "other-bucket",
    "CLAUDE_JOBS_DATASETS": "claude_jobs_inputs",
}


@pytest.fixture(autouse=True)
def _from_the_repository_root_with_no_stack(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "no-stack"))

    def refuse(*args, **kwargs):
        raise AssertionError("the local stack must not start: the spec check comes first")

    monkeypatch.setattr("runner.local.stack.ensure_up", refuse)
    monkeypatch.chdir(REPO)


@pytest.fixture
def with_env(cli, monkeypatch):
    """`cli` with some variables set for that one call."""

    def run(env: dict[str, str], *args: str):
        with monkeypatch.context() as scoped:
            for var, value in env.items():
                scoped.setenv(var, value)
            return cli(*args)

    return run


@pytest.fixture
def platform_file(tmp_path):
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(PLATFORM))
    return path


def test_variables_give_validate_the_same_errors_as_the_flag_file(cli, with_env, platform_file):
    by_flag = cli("validate", "--stack-outputs", platform_file, "jobs/")
    by_variables = with_env(VARIABLES, "validate", "jobs/")
    assert by_flag[0] == EXIT_INVALID
    assert "is not the platform's bucket 'other-bucket'" in by_flag[1]
    assert by_variables == by_flag


def test_without_variables_or_flag_validate_checks_no_platform(cli):
    code, out, errors = cli("validate", "jobs/")
    assert (code, errors) == (EXIT_OK, [])
    assert "platform" not in out


def test_the_flag_file_wins_over_the_variables(with_env, tmp_path):
    on_platform = tmp_path / "platform.json"
    on_platform.write_text(json.dumps({**PLATFORM, "bucket": "claude-jobs-local"}))
    broken = {**VARIABLES, "CLAUDE_JOBS_REGION": "global"}  # would be exit 2 if read
    code, _, errors = with_env(broken, "validate", "--stack-outputs", on_platform, BATCH_GCS)
    assert (code, errors) == (EXIT_OK, [])


def test_a_malformed_variable_is_one_located_usage_error(with_env):
    code, _, errors = with_env({**VARIABLES, "CLAUDE_JOBS_REGION": "global"}, "validate", "jobs/")
    assert code == EXIT_USAGE
    assert errors == [
        "error: CLAUDE_JOBS_REGION: 'global' is not a region such as us-east5 "
        "(batch jobs need a regional location)"
    ]


def test_one_variable_alone_names_the_missing_ones(with_env):
    code, _, errors = with_env({"CLAUDE_JOBS_BUCKET": "other-bucket"}, "validate", "jobs/")
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: CLAUDE_JOBS_PROJECT: not set, but other stack-output variables are (CLAUDE_JOBS_BUCKET)"
    )
    assert "--stack-outputs FILE" in errors[0]


def test_plan_reads_the_variables(cli, with_env, platform_file):
    by_variables = with_env(VARIABLES, "plan", "--offline", "--format", "json", BATCH_GCS)
    by_flag = cli("plan", "--offline", "--format", "json", "--stack-outputs", platform_file, BATCH_GCS)
    assert by_variables[0] == EXIT_INVALID
    assert "is not the platform's bucket 'other-bucket'" in by_variables[1]
    assert by_variables == by_flag


@pytest.mark.parametrize("command", ["run", "apply"])
def test_run_and_apply_refuse_a_spec_off_the_platform_before_any_target(with_env, command, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.copy(REPO / BATCH_GCS, repo / "spec.yaml")
    code, out, errors = with_env(VARIABLES, command, repo / "spec.yaml")
    assert code == EXIT_INVALID
    assert any("is not the platform's bucket 'other-bucket'" in line for line in errors + out.splitlines())
