"""runner/spec/stack_outputs.py: the runner reads the stack outputs from a saved file or from CLAUDE_JOBS_* variables."""

from __future__ import annotations

import json

import pytest

from runner.errors import EXIT_CONFIG, EXIT_USAGE, ConfigError, UsageError
from runner.spec.stack_outputs import ENV_VARS, StackOutputs, load_stack_outputs, stack_outputs_from_env

SAVED = {
    "project": "acme-claude-prod",
    "region": "us-east5",
    "bucket": "acme-claude-prod-claude-jobs",
    "bigquery_datasets": ["claude_jobs_inputs", "claude_jobs_outputs"],
    "runner_service_account": "claude-jobs-runner@acme-claude-prod.iam.gserviceaccount.com",
    "workload_identity_provider": "projects/1/locations/global/workloadIdentityPools/p/providers/g",
    "vertex_service_agent": "service-1@gcp-sa-aiplatform.iam.gserviceaccount.com",
}


def saved(tmp_path, data) -> str:
    path = tmp_path / "platform.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return str(path)


def test_saved_stack_outputs_load_every_key(tmp_path):
    outputs = load_stack_outputs(saved(tmp_path, SAVED))
    assert outputs == StackOutputs(**SAVED)


def test_gs_prefix_and_qualified_dataset_names_are_normalised(tmp_path):
    data = {
        **SAVED,
        "bucket": "gs://acme-claude-prod-claude-jobs/",
        "bigquery_datasets": ["acme-claude-prod:claude_jobs_inputs", "acme-claude-prod.x"],
    }
    outputs = load_stack_outputs(saved(tmp_path, data))
    assert (outputs.bucket, outputs.bigquery_datasets) == (
        "acme-claude-prod-claude-jobs",
        ["claude_jobs_inputs", "x"],
    )


def test_missing_file_is_a_config_error_naming_the_flag(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_stack_outputs(tmp_path / "nope.json")
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(caught.value).startswith("--stack-outputs: no such stack outputs file:")
    assert "pulumi stack output --json > platform.json" in str(caught.value)


def test_invalid_json_names_the_file_line_and_column(tmp_path):
    path = saved(tmp_path, '{\n  "project": "acme-claude-prod",\n  oops\n}')
    with pytest.raises(ConfigError) as caught:
        load_stack_outputs(path)
    assert str(caught.value).startswith(f"{path}:3:3: not JSON:")


def test_missing_keys_are_named_with_the_file_and_json_path(tmp_path):
    data = {k: v for k, v in SAVED.items() if k not in ("bucket", "bigquery_datasets")}
    path = saved(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_stack_outputs(path)
    assert str(caught.value).startswith(f"{path}: $.bucket: stack outputs lack bucket, bigquery_datasets")


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("region", "global", "'global' is not a region such as us-east5"),
        ("project", "Acme Prod", "'Acme Prod' is not a Google Cloud project id"),
        ("bucket", 42, "must be a string, not int"),
        ("bigquery_datasets", {"a": 1}, "must be a list of dataset ids"),
        ("bigquery_datasets", ["bad-name"], "'bad-name' is not a BigQuery dataset id"),
    ],
)
def test_bad_values_are_named_by_key(tmp_path, key, value, message):
    path = saved(tmp_path, {**SAVED, key: value})
    with pytest.raises(ConfigError) as caught:
        load_stack_outputs(path)
    assert str(caught.value).startswith(f"{path}: $.{key}: {message}")


def test_a_non_object_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_stack_outputs(saved(tmp_path, "[1, 2]"))


def test_environment_gives_the_same_outputs():
    environ = {var: SAVED[key] for key, var in ENV_VARS.items() if key != "bigquery_datasets"}
    environ["CLAUDE_JOBS_DATASETS"] = " claude_jobs_inputs, claude_jobs_outputs ,"
    assert stack_outputs_from_env(environ) == StackOutputs(**SAVED)


def test_no_platform_variables_means_no_platform():
    assert stack_outputs_from_env({"HOME": "/root"}) is None


def test_partial_environment_is_a_usage_error_naming_the_missing_variable():
    with pytest.raises(UsageError) as caught:
        stack_outputs_from_env(
            {
                "CLAUDE_JOBS_PROJECT": "acme-claude-prod",
                "CLAUDE_JOBS_REGION": "us-east5",
                "CLAUDE_JOBS_DATASETS": "d",
            }
        )
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value).startswith(
        "CLAUDE_JOBS_BUCKET: not set, but other stack-output variables are "
        "(CLAUDE_JOBS_PROJECT, CLAUDE_JOBS_REGION, CLAUDE_JOBS_DATASETS)"
    )


@pytest.mark.parametrize(
    "var,value,message",
    [
        ("CLAUDE_JOBS_REGION", "global", "'global' is not a region such as us-east5"),
        ("CLAUDE_JOBS_PROJECT", "Acme Prod", "'Acme Prod' is not a Google Cloud project id"),
        ("CLAUDE_JOBS_BUCKET", "no/slashes", "'no/slashes' is not a bucket name"),
        ("CLAUDE_JOBS_DATASETS", "ok,bad-name", "'bad-name' is not a BigQuery dataset id"),
    ],
)
def test_a_malformed_variable_is_a_usage_error_naming_it(var, value, message):
    environ = {
        "CLAUDE_JOBS_PROJECT": "acme-claude-prod",
        "CLAUDE_JOBS_REGION": "us-east5",
        "CLAUDE_JOBS_BUCKET": "b-1",
        "CLAUDE_JOBS_DATASETS": "d",
        var: value,
    }
    with pytest.raises(UsageError) as caught:
        stack_outputs_from_env(environ)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value).startswith(f"{var}: {message}")
