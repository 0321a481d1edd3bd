"""The CLAUDE_JOBS_* stack-output variables: validate, plan, apply and run read them, the flag wins.

docs/infra.md tells CI to set them instead of passing `--stack-outputs FILE`; both must give the
same findings. A bad variable is one usage-error line naming it (exit 2).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.cli import invoke
from runner.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from runner.spec.stack_outputs import ENV_VARS

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


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """`claude-jobs ARGS` from the repository root, with no platform variable set unless given."""
    for var in (*ENV_VARS.values(), "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "CLAUDE_JOBS_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "no-stack"))

    def refuse(*args, **kwargs):
        raise AssertionError("the local stack must not start: the spec check comes first")

    monkeypatch.setattr("runner.local.stack.ensure_up", refuse)
    monkeypatch.chdir(REPO)

    def run(*args: str, env: dict[str, str] | None = None):
        with monkeypatch.context() as scoped:
            for var, value in (env or {}).items():
                scoped.setenv(var, value)
            code = invoke([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, [line for line in err.splitlines() if line.startswith("error:")]

    return run


@pytest.fixture
def platform_file(tmp_path):
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(PLATFORM))
    return path


def test_variables_give_validate_the_same_errors_as_the_flag_file(cli, platform_file):
    by_flag = cli("validate", "--stack-outputs", platform_file, "jobs/")
    by_variables = cli("validate", "jobs/", env=VARIABLES)
    assert by_flag[0] == EXIT_INVALID
    assert "is not the platform's bucket 'other-bucket'" in by_flag[1]
    assert by_variables == by_flag


def test_without_variables_or_flag_validate_checks_no_platform(cli):
    code, out, errors = cli("validate", "jobs/")
    assert (code, errors) == (EXIT_OK, [])
    assert "platform" not in out


def test_the_flag_file_wins_over_the_variables(cli, tmp_path):
    on_platform = tmp_path / "platform.json"
    on_platform.write_text(json.dumps({**PLATFORM, "bucket": "claude-jobs-local"}))
    broken = {**VARIABLES, "CLAUDE_JOBS_REGION": "global"}  # would be exit 2 if read
    code, _out, errors = cli("validate", "--stack-outputs", on_platform, BATCH_GCS, env=broken)
    assert (code, errors) == (EXIT_OK, [])


def test_a_malformed_variable_is_one_located_usage_error(cli):
    code, _out, errors = cli("validate", "jobs/", env={**VARIABLES, "CLAUDE_JOBS_REGION": "global"})
    assert code == EXIT_USAGE
    assert errors == [
        "error: CLAUDE_JOBS_REGION: 'global' is not a region such as us-east5 "
        "(batch jobs need a regional location)"
    ]


def test_one_variable_alone_names_the_missing_ones(cli):
    code, _, errors = cli("validate", "jobs/", env={"CLAUDE_JOBS_BUCKET": "other-bucket"})
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: CLAUDE_JOBS_PROJECT: not set, but other stack-output variables are (CLAUDE_JOBS_BUCKET)"
    )
    assert "--stack-outputs FILE" in errors[0]


def test_plan_reads_the_variables(cli, platform_file):
    by_variables = cli("plan", "--offline", "--format", "json", BATCH_GCS, env=VARIABLES)
    by_flag = cli("plan", "--offline", "--format", "json", "--stack-outputs", platform_file, BATCH_GCS)
    assert by_variables[0] == EXIT_INVALID
    assert "is not the platform's bucket 'other-bucket'" in by_variables[1]
    assert by_variables == by_flag


@pytest.mark.parametrize("command", ["run", "apply"])
def test_run_and_apply_refuse_a_spec_off_the_platform_before_any_target(cli, command, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.copy(REPO / BATCH_GCS, repo / "spec.yaml")
    code, out, errors = cli(command, repo / "spec.yaml", env=VARIABLES)
    assert code == EXIT_INVALID
    assert any("is not the platform's bucket 'other-bucket'" in line for line in errors + out.splitlines())
