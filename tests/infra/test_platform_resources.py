"""Unit tests of what the Pulumi program declares: every resource's key properties."""

from __future__ import annotations

import json

import pulumi
from infra_harness import BASE_CONFIG, PROJECT, PROJECT_NUMBER, run_program

from infra.wif import attribute_condition
from runner.spec.stack_outputs import load_stack_outputs

ROLE_MEMBER_TYPES = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:bigquery/datasetIamMember:DatasetIamMember",
)
RUNNER = f"serviceAccount:claude-jobs-runner@{PROJECT}.iam.gserviceaccount.com"
AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-aiplatform.iam.gserviceaccount.com"


def grants_of(run, member: str) -> set[tuple[str, str, str]]:
    """(resource type, target, role) of every member-level grant to `member`."""
    found = set()
    for r in run.registrations.values():
        if r.type in ROLE_MEMBER_TYPES and r.inputs.get("member") == member:
            target = r.inputs.get("bucket") or r.inputs.get("datasetId") or r.inputs["project"]
            found.add((r.type.split(":")[-1], target, r.inputs["role"]))
    return found


@pulumi.runtime.test
def test_every_required_api_is_enabled_and_left_enabled_on_destroy(platform):
    services = platform.namespace["services"].enabled
    assert set(services) == {
        f"{api}.googleapis.com"
        for api in ("aiplatform", "bigquery", "storage", "iam", "iamcredentials", "sts")
    }

    def check(args):
        urn, project, disable_on_destroy = args
        assert project == PROJECT, f"{urn}: project {project}"
        assert disable_on_destroy is False, f"{urn}: would disable the API on destroy"

    return pulumi.Output.all(
        *[pulumi.Output.all(s.urn, s.project, s.disable_on_destroy).apply(check) for s in services.values()]
    )


@pulumi.runtime.test
def test_bucket_is_regional_private_and_versioned(platform):
    bucket = platform.namespace["bucket"].bucket

    def check(args):
        urn, name, location, uniform, prevention, versioning = args
        assert name == f"{PROJECT}-claude-jobs", f"{urn}: name {name}"
        assert location == "US-EAST5", f"{urn}: location {location}"
        assert uniform is True, f"{urn}: uniform bucket-level access is off"
        assert prevention == "enforced", f"{urn}: public access prevention {prevention}"
        assert versioning == {"enabled": True}, f"{urn}: versioning {versioning}"

    return pulumi.Output.all(
        bucket.urn,
        bucket.name,
        bucket.location,
        bucket.uniform_bucket_level_access,
        bucket.public_access_prevention,
        bucket.versioning,
    ).apply(check)


@pulumi.runtime.test
def test_bucket_expires_staging_and_output_objects_after_the_retention_days(pinned_platform):
    bucket = pinned_platform.namespace["bucket"].bucket

    def check(args):
        urn, rules = args
        deletes = [r["condition"] for r in rules if r["action"]["type"] == "Delete"]
        by_prefix = [c for c in deletes if c.get("matches_prefixes")]
        assert by_prefix == [{"age": 10, "matches_prefixes": ["staging/", "output/"]}], (
            f"{urn}: prefix expiry rules {by_prefix}"
        )

    return pulumi.Output.all(bucket.urn, bucket.lifecycle_rules).apply(check)


@pulumi.runtime.test
def test_bucket_deletes_noncurrent_versions_after_their_own_days(pinned_platform):
    bucket = pinned_platform.namespace["bucket"].bucket

    def check(args):
        urn, rules = args
        noncurrent = [
            r["condition"]
            for r in rules
            if r["action"]["type"] == "Delete" and r["condition"].get("with_state") == "ARCHIVED"
        ]
        assert noncurrent == [{"days_since_noncurrent_time": 3, "with_state": "ARCHIVED"}], (
            f"{urn}: noncurrent version rules {noncurrent}"
        )

    return pulumi.Output.all(bucket.urn, bucket.lifecycle_rules).apply(check)


@pulumi.runtime.test
def test_bucket_and_datasets_carry_the_stack_labels(pinned_platform):
    labelled = [
        pinned_platform.namespace["bucket"].bucket,
        *pinned_platform.namespace["datasets"].datasets.values(),
    ]
    expected = {"app": "claude-jobs", "managed-by": "pulumi", "team": "ml-platform", "env": "prod"}

    def check(args):
        urn, labels = args
        assert labels == expected, f"{urn}: labels {labels}"

    return pulumi.Output.all(*[pulumi.Output.all(r.urn, r.labels).apply(check) for r in labelled])


@pulumi.runtime.test
def test_datasets_are_prefixed_and_in_the_region_without_expiry_by_default(platform):
    datasets = platform.namespace["datasets"].datasets
    assert list(datasets) == ["claude_jobs_inputs", "claude_jobs_outputs"]

    def check(args):
        urn, project, location, expiration, encryption = args
        assert (project, location) == (PROJECT, "us-east5"), f"{urn}: in {project}/{location}"
        assert expiration is None, f"{urn}: default table expiration {expiration}"
        assert encryption is None, f"{urn}: unexpected CMEK {encryption}"

    return pulumi.Output.all(
        *[
            pulumi.Output.all(
                ds.urn,
                ds.project,
                ds.location,
                ds.default_table_expiration_ms,
                ds.default_encryption_configuration,
            ).apply(check)
            for ds in datasets.values()
        ]
    )


@pulumi.runtime.test
def test_datasets_apply_table_expiration_and_cmek_when_configured(pinned_platform):
    datasets = pinned_platform.namespace["datasets"].datasets
    key = pinned_platform.namespace["cfg"].kms_key_name

    def check(args):
        urn, expiration, encryption = args
        assert expiration == 14 * 24 * 3600 * 1000, f"{urn}: default table expiration {expiration}"
        assert encryption == {"kms_key_name": key}, f"{urn}: encryption {encryption}"

    return pulumi.Output.all(
        *[
            pulumi.Output.all(
                ds.urn, ds.default_table_expiration_ms, ds.default_encryption_configuration
            ).apply(check)
            for ds in datasets.values()
        ]
    )


@pulumi.runtime.test
def test_bucket_uses_the_cmek_key(pinned_platform):
    bucket = pinned_platform.namespace["bucket"].bucket
    key = pinned_platform.namespace["cfg"].kms_key_name

    def check(args):
        urn, encryption = args
        assert encryption["default_kms_key_name"] == key, f"{urn}: encryption {encryption}"

    return pulumi.Output.all(bucket.urn, bucket.encryption).apply(check)


def test_storage_and_bigquery_agents_may_use_the_cmek_key_before_it_is_needed(pinned_platform):
    key = pinned_platform.namespace["cfg"].kms_key_name
    grants = pinned_platform.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    members = {g.inputs["member"] for g in grants}
    assert members == {
        f"serviceAccount:service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
        f"serviceAccount:bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com",
    }
    for grant in grants:
        assert grant.inputs["cryptoKeyId"] == key, f"{grant.urn}: key {grant.inputs}"
        assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter", grant.urn
    encrypted = [
        *pinned_platform.of_type("gcp:storage/bucket:Bucket"),
        *pinned_platform.of_type("gcp:bigquery/dataset:Dataset"),
    ]
    for resource in encrypted:
        assert any(g.urn in resource.dependencies for g in grants), (
            f"{resource.urn}: created before its service agent may use the key"
        )


def test_no_cmek_means_no_key_grants_and_no_agent_lookups(platform):
    assert platform.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") == []
    assert platform.calls == []


def test_runner_service_account_has_exactly_the_runner_roles(platform):
    assert grants_of(platform, RUNNER) == {
        ("IAMMember", PROJECT, "roles/aiplatform.user"),
        ("IAMMember", PROJECT, "roles/bigquery.jobUser"),
        ("BucketIAMMember", f"{PROJECT}-claude-jobs", "roles/storage.objectAdmin"),
        ("DatasetIamMember", "claude_jobs_inputs", "roles/bigquery.dataEditor"),
        ("DatasetIamMember", "claude_jobs_outputs", "roles/bigquery.dataEditor"),
    }


@pulumi.runtime.test
def test_runner_service_account_is_named_after_the_prefix(platform):
    account = platform.namespace["runner"].account

    def check(args):
        urn, account_id, project = args
        assert (account_id, project) == ("claude-jobs-runner", PROJECT), f"{urn}: {args}"

    return pulumi.Output.all(account.urn, account.account_id, account.project).apply(check)


@pulumi.runtime.test
def test_vertex_service_agent_is_the_aiplatform_service_identity(platform):
    identity = platform.namespace["vertex_agent"].identity

    def check(args):
        urn, service, project = args
        assert (service, project) == ("aiplatform.googleapis.com", PROJECT), f"{urn}: {args}"

    return pulumi.Output.all(identity.urn, identity.service, identity.project).apply(check)


def test_vertex_service_agent_reads_inputs_and_writes_outputs(platform):
    assert grants_of(platform, AGENT) == {
        ("IAMMember", PROJECT, "roles/bigquery.jobUser"),
        ("BucketIAMMember", f"{PROJECT}-claude-jobs", "roles/storage.objectViewer"),
        ("BucketIAMMember", f"{PROJECT}-claude-jobs", "roles/storage.objectCreator"),
        ("DatasetIamMember", "claude_jobs_inputs", "roles/bigquery.dataEditor"),
        ("DatasetIamMember", "claude_jobs_outputs", "roles/bigquery.dataEditor"),
    }


def test_vertex_agent_and_its_grants_wait_for_the_aiplatform_api(platform):
    api_urn = platform.one("gcp:projects/service:Service", "claude-jobs-aiplatform").urn
    agent_resources = [
        r
        for r in platform.registrations.values()
        if r.custom and "claude-jobs:identity:VertexServiceAgent$" in r.urn
    ]
    assert len(agent_resources) == 1 + 5
    for resource in agent_resources:
        assert api_urn in resource.dependencies, f"{resource.urn}: does not depend on {api_urn}"


@pulumi.runtime.test
def test_wif_provider_trusts_the_github_issuer_and_maps_repository_claims(platform):
    provider = platform.namespace["github"].provider

    def check(args):
        urn, oidc, mapping = args
        assert oidc["issuer_uri"] == "https://token.actions.githubusercontent.com", f"{urn}: {oidc}"
        for attribute in (
            "google.subject",
            "attribute.repository",
            "attribute.repository_id",
            "attribute.repository_owner_id",
            "attribute.ref",
        ):
            assert attribute in mapping, f"{urn}: {attribute} is not mapped"

    return pulumi.Output.all(provider.urn, provider.oidc, provider.attribute_mapping).apply(check)


@pulumi.runtime.test
def test_wif_condition_pins_the_repository_name_without_numeric_ids(platform):
    provider = platform.namespace["github"].provider

    def check(args):
        urn, condition = args
        assert condition == "assertion.repository == 'acme/claude-jobs'", f"{urn}: {condition}"

    return pulumi.Output.all(provider.urn, provider.attribute_condition).apply(check)


@pulumi.runtime.test
def test_wif_condition_pins_the_numeric_ids_when_given(pinned_platform):
    provider = pinned_platform.namespace["github"].provider

    def check(args):
        urn, condition = args
        assert condition == (
            "assertion.repository_id == '700000001' && assertion.repository_owner_id == '800000002'"
        ), f"{urn}: {condition}"

    return pulumi.Output.all(provider.urn, provider.attribute_condition).apply(check)


def test_wif_condition_adds_the_owner_id_to_a_pinned_name():
    condition = attribute_condition("acme/claude-jobs", None, "800000002")
    assert condition == (
        "assertion.repository == 'acme/claude-jobs' && assertion.repository_owner_id == '800000002'"
    )


@pulumi.runtime.test
def test_only_the_repository_may_impersonate_the_runner(platform):
    binding = platform.namespace["github"].runner_binding
    pool = "projects/123456789012/locations/global/workloadIdentityPools/claude-jobs-github"

    def check(args):
        urn, account, role, member = args
        assert account == f"projects/{PROJECT}/serviceAccounts/{RUNNER.split(':')[1]}", urn
        assert role == "roles/iam.workloadIdentityUser", f"{urn}: role {role}"
        assert member == f"principalSet://iam.googleapis.com/{pool}/attribute.repository/acme/claude-jobs", (
            f"{urn}: member {member}"
        )

    return pulumi.Output.all(binding.urn, binding.service_account_id, binding.role, binding.member).apply(
        check
    )


@pulumi.runtime.test
def test_pinned_repository_is_impersonating_by_repository_id(pinned_platform):
    binding = pinned_platform.namespace["github"].runner_binding

    def check(args):
        urn, member = args
        assert member.endswith("/attribute.repository_id/700000001"), f"{urn}: member {member}"

    return pulumi.Output.all(binding.urn, binding.member).apply(check)


def test_workload_identity_user_is_granted_on_the_runner_account_only(platform):
    bindings = platform.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert [b.inputs["role"] for b in bindings] == ["roles/iam.workloadIdentityUser"]
    project_roles = {r.inputs["role"] for r in platform.of_type("gcp:projects/iAMMember:IAMMember")}
    assert "roles/iam.workloadIdentityUser" not in project_roles


def test_stack_exports_exactly_what_the_runner_reads(platform, tmp_path):
    assert platform.exports == {
        "project": PROJECT,
        "region": "us-east5",
        "bucket": f"{PROJECT}-claude-jobs",
        "bigquery_datasets": ["claude_jobs_inputs", "claude_jobs_outputs"],
        "runner_service_account": RUNNER.split(":")[1],
        "workload_identity_provider": "projects/123456789012/locations/global/"
        "workloadIdentityPools/claude-jobs-github/providers/github-actions",
        "vertex_service_agent": AGENT.split(":")[1],
        "stateUri": f"gs://{PROJECT}-claude-jobs/claude-jobs-state",
    }
    saved = tmp_path / "platform.json"
    saved.write_text(json.dumps(platform.exports))
    outputs = load_stack_outputs(saved)
    assert (outputs.bucket, outputs.bigquery_datasets, outputs.state_uri) == (
        f"{PROJECT}-claude-jobs",
        ["claude_jobs_inputs", "claude_jobs_outputs"],
        f"gs://{PROJECT}-claude-jobs/claude-jobs-state",
    )


def test_components_use_claude_jobs_type_tokens_and_parent_every_resource(platform):
    components = {r.urn: r for r in platform.registrations.values() if not r.custom}
    assert {r.type for r in components.values()} == {
        "claude-jobs:services:ProjectServices",
        "claude-jobs:storage:BatchBucket",
        "claude-jobs:bigquery:BatchDatasets",
        "claude-jobs:identity:RunnerIdentity",
        "claude-jobs:identity:VertexServiceAgent",
        "claude-jobs:wif:GitHubFederation",
    }
    for resource in platform.registrations.values():
        if resource.custom:
            assert resource.parent in components, f"{resource.urn}: parent {resource.parent!r}"


def test_every_component_registers_its_outputs(platform):
    components = [r.urn for r in platform.registrations.values() if not r.custom]
    for urn in components:
        assert platform.component_outputs.get(urn), f"{urn}: registered no outputs"


def test_preview_declares_the_same_resources_as_an_update(pinned_platform):
    preview = run_program(
        preview=True,
        **BASE_CONFIG,
        githubRepositoryId="700000001",
        kmsKeyName=pinned_platform.namespace["cfg"].kms_key_name,
    )
    assert set(preview.registrations) == set(pinned_platform.registrations)
