"""Stack configuration: defaults, validation, and one clear line for every mistake."""

from __future__ import annotations

import pulumi
import pytest
import yaml
from infra_harness import BASE_CONFIG, PROJECT, REPO, run_program

from infra.config import CONFIG_KEYS, InfraConfigError, claude_regions, parse_config


def error_of(**values) -> str:
    with pytest.raises(InfraConfigError) as caught:
        parse_config({**BASE_CONFIG, **values})
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def test_defaults_give_a_us_east5_platform_named_after_the_project():
    cfg = parse_config(BASE_CONFIG)
    assert (cfg.region, cfg.name_prefix, cfg.bucket_name) == (
        "us-east5",
        "claude-jobs",
        f"{PROJECT}-claude-jobs",
    )
    assert cfg.dataset_ids == ["claude_jobs_inputs", "claude_jobs_outputs"]
    assert (
        cfg.retention_days,
        cfg.noncurrent_retention_days,
        cfg.table_expiration_days,
        cfg.kms_key_name,
    ) == (30, 7, None, None)


def test_missing_project_says_how_to_set_it():
    message = error_of(project="")
    assert message == (
        "invalid stack config: claude-jobs:project is not set "
        "(run `pulumi config set claude-jobs:project MY_PROJECT`)"
    )


@pytest.mark.parametrize("region", ["us-west1", "global", "mars-north1"])
def test_region_without_claude_batch_is_refused_with_the_alternatives(region):
    message = error_of(region=region)
    assert f"claude-jobs:region '{region}' has no Claude batch prediction on Vertex AI" in message
    assert "us-east5" in message and "europe-west1" in message


def test_supported_regions_come_from_the_model_catalog():
    catalog = yaml.safe_load((REPO / "runner" / "spec" / "models.yaml").read_text())
    live = [m for m in catalog["models"] if m.get("status") != "retired"]
    assert claude_regions() == {r for m in live for r in m["batch_regions"]}
    assert "us-east5" in claude_regions() and "global" not in claude_regions()


@pytest.mark.parametrize(
    "repository", ["acme", "acme/", "/repo", "acme/claude/jobs", "https://github.com/acme/claude-jobs"]
)
def test_malformed_repository_is_refused(repository):
    assert f"claude-jobs:githubRepository '{repository}' is not `owner/repo`" in error_of(
        githubRepository=repository
    )


def test_missing_repository_is_refused():
    assert "claude-jobs:githubRepository is not set" in error_of(githubRepository=None)


def test_non_numeric_repository_id_is_refused():
    assert "claude-jobs:githubRepositoryId 'claude-jobs' must be the numeric GitHub id" in error_of(
        githubRepositoryId="claude-jobs"
    )


def test_cmek_key_in_another_region_is_refused():
    key = "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c"
    assert "claude-jobs:kmsKeyName key is in 'europe-west1'" in error_of(kmsKeyName=key)


def test_malformed_cmek_key_is_refused():
    assert "is not projects/P/locations/L/keyRings/R/cryptoKeys/K" in error_of(kmsKeyName="my-key")


@pytest.mark.parametrize("labels", [["Team=ml"], ["team"], ["team=ML Platform"]])
def test_malformed_labels_are_refused(labels):
    assert "claude-jobs:labels" in error_of(labels=labels)


@pytest.mark.parametrize("days", ["thirty", "0", "-1", "5000"])
def test_retention_days_must_be_a_sensible_whole_number(days):
    assert "claude-jobs:retentionDays" in error_of(retentionDays=days)


def test_bucket_name_must_be_valid():
    assert "claude-jobs:bucketName 'google-batch'" in error_of(bucketName="google-batch")


def test_every_mistake_is_reported_at_once():
    message = error_of(project="", region="us-west1", githubRepository="nope")
    for key in ("claude-jobs:project ", "claude-jobs:region ", "claude-jobs:githubRepository "):
        assert key in message, f"{key.strip()} missing from {message!r}"


def test_pulumi_yaml_documents_every_key_with_a_description_and_default():
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(CONFIG_KEYS)
    for key, spec in declared.items():
        assert spec.get("description"), f"Pulumi.yaml: {key} has no description"
        assert "default" in spec, f"Pulumi.yaml: {key} has no default"
    defaults = {key: spec["default"] for key, spec in declared.items()}
    assert parse_config({**defaults, **BASE_CONFIG}) == parse_config(BASE_CONFIG)


def test_pulumi_yaml_declares_only_types_pulumi_accepts():
    # Pulumi's project schema: string, integer, boolean or array (with `items`); no maps.
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    for key, spec in declared.items():
        assert spec["type"] in {"string", "integer", "boolean", "array"}, f"Pulumi.yaml: {key}"
        if spec["type"] == "array":
            assert spec["items"]["type"] == "string", f"Pulumi.yaml: {key} needs items"
            assert isinstance(spec["default"], list), f"Pulumi.yaml: {key} default"
        elif spec["type"] == "integer":
            assert isinstance(spec["default"], int), f"Pulumi.yaml: {key} default"
        else:
            assert isinstance(spec["default"], str), f"Pulumi.yaml: {key} default"


def test_example_stack_file_is_valid_config():
    example = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    values = {key.removeprefix("claude-jobs:"): value for key, value in example.items()}
    cfg = parse_config(values)
    assert cfg.github.repository_id and cfg.labels


def test_program_with_a_bad_config_stops_before_creating_anything():
    with pytest.raises(InfraConfigError) as caught:
        run_program(project=None, githubRepository="acme/claude-jobs")
    # Pulumi prints a RunError as its message alone, without a traceback.
    assert isinstance(caught.value, pulumi.RunError)
    assert "claude-jobs:project is not set" in str(caught.value)


def test_program_falls_back_to_the_gcp_provider_project():
    pulumi.runtime.set_all_config(
        {"gcp:project": PROJECT, "claude-jobs:githubRepository": "acme/claude-jobs"}
    )
    from infra.config import load_config

    assert load_config().project == PROJECT


def test_list_settings_accept_yaml_lists_and_comma_strings():
    run = run_program(**BASE_CONFIG, labels='["team=ml"]', datasets="raw,results")
    cfg = run.namespace["cfg"]
    assert cfg.labels == {"team": "ml"}
    assert cfg.dataset_ids == ["claude_jobs_raw", "claude_jobs_results"]
    assert run.exports["bigquery_datasets"] == ["claude_jobs_raw", "claude_jobs_results"]
