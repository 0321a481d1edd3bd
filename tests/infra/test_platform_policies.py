"""Security policies hold over every resource the program creates, and each one catches its violation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infra import policies
from infra.policies import Resource

REPOSITORY = "acme/claude-jobs"


def policy_set(run) -> dict:
    cfg = run.namespace["cfg"]
    return {"region": cfg.region, "repository": cfg.github.name, "repository_id": cfg.github.repository_id}


@pytest.mark.parametrize("run_name", ["platform", "pinned_platform"])
def test_every_policy_holds_over_all_resources(run_name, request):
    run = request.getfixturevalue(run_name)
    resources = run.resources()
    # The policies must see the resources they are about, or they pass vacuously.
    assert {
        policies.BUCKET,
        policies.DATASET,
        policies.WIF_PROVIDER,
        "gcp:projects/iAMMember:IAMMember",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:bigquery/datasetIamMember:DatasetIamMember",
        "gcp:serviceaccount/iAMMember:IAMMember",
    } <= {r.type for r in resources}
    violations = policies.check_all(resources, **policy_set(run))
    assert violations == [], "\n".join(map(str, violations))


def _with(run, changed: Resource) -> list[Resource]:
    """The program's resources with one resource replaced (by URN) or added."""
    others = [r for r in run.resources() if r.urn != changed.urn]
    return [*others, changed]


def _first(run, type_token: str) -> Resource:
    return next(r for r in run.resources() if r.type == type_token)


def _violated(resources, run) -> set[str]:
    return {v.policy for v in policies.check_all(resources, **policy_set(run))}


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer"])
def test_basic_role_grant_is_caught(platform, role):
    grant = _first(platform, "gcp:projects/iAMMember:IAMMember")
    broken = _with(platform, replace(grant, inputs={**grant.inputs, "role": role}))
    assert _violated(broken, platform) == {"no-basic-roles"}


def test_basic_role_in_an_authoritative_policy_is_caught(platform):
    policy = Resource(
        "urn:test::gcp:projects/iAMPolicy:IAMPolicy::p",
        "gcp:projects/iAMPolicy:IAMPolicy",
        "p",
        {
            "project": "x",
            "policyData": json.dumps({"bindings": [{"role": "roles/editor", "members": ["user:a@b.c"]}]}),
        },
    )
    assert _violated(_with(platform, policy), platform) == {"no-basic-roles", "member-level-iam-only"}


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_public_member_on_the_bucket_is_caught(platform, member):
    grant = _first(platform, "gcp:storage/bucketIAMMember:BucketIAMMember")
    broken = _with(platform, replace(grant, inputs={**grant.inputs, "member": member}))
    assert _violated(broken, platform) == {"no-public-members"}


def test_public_member_in_a_binding_is_caught(platform):
    binding = Resource(
        "urn:test::b",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "b",
        {"bucket": "x", "role": "roles/storage.objectViewer", "members": ["user:a@b.c", "allUsers"]},
    )
    assert _violated(_with(platform, binding), platform) == {"no-public-members", "member-level-iam-only"}


@pytest.mark.parametrize(
    "type_token",
    [
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:bigquery/datasetIamBinding:DatasetIamBinding",
        "gcp:serviceaccount/iAMPolicy:IAMPolicy",
    ],
)
def test_authoritative_iam_resource_is_caught(platform, type_token):
    grant = _first(platform, "gcp:projects/iAMMember:IAMMember")
    broken = _with(platform, replace(grant, type=type_token))
    assert _violated(broken, platform) == {"member-level-iam-only"}


@pytest.mark.parametrize(
    "change", [{"publicAccessPrevention": "inherited"}, {"uniformBucketLevelAccess": False}]
)
def test_bucket_without_prevention_or_uniform_access_is_caught(platform, change):
    bucket = _first(platform, policies.BUCKET)
    broken = _with(platform, replace(bucket, inputs={**bucket.inputs, **change}))
    assert _violated(broken, platform) == {"private-buckets"}


def test_second_bucket_without_settings_is_caught(platform):
    extra = Resource("urn:test::extra", policies.BUCKET, "extra", {"name": "extra", "location": "US-EAST5"})
    violations = policies.private_buckets(_with(platform, extra))
    assert {v.urn for v in violations} == {"urn:test::extra"} and len(violations) == 2


@pytest.mark.parametrize(
    "type_token,change",
    [
        (policies.BUCKET, {"location": "US"}),
        (policies.DATASET, {"location": "europe-west1"}),
    ],
)
def test_resource_outside_the_region_is_caught(platform, type_token, change):
    resource = _first(platform, type_token)
    broken = _with(platform, replace(resource, inputs={**resource.inputs, **change}))
    assert _violated(broken, platform) == {"in-region"}


def test_dataset_without_a_location_is_caught(platform):
    dataset = _first(platform, policies.DATASET)
    inputs = {k: v for k, v in dataset.inputs.items() if k != "location"}
    broken = _with(platform, replace(dataset, inputs=inputs))
    assert _violated(broken, platform) == {"in-region"}


@pytest.mark.parametrize(
    "condition",
    [None, "", "assertion.repository == 'acme/other-repo'", "assertion.repository_owner == 'acme'"],
)
def test_wif_provider_not_pinned_to_the_repository_is_caught(platform, condition):
    provider = _first(platform, policies.WIF_PROVIDER)
    broken = _with(platform, replace(provider, inputs={**provider.inputs, "attributeCondition": condition}))
    assert _violated(broken, platform) == {"wif-pinned-to-repository"}


def test_wif_provider_pinned_to_another_repository_id_is_caught(pinned_platform):
    provider = _first(pinned_platform, policies.WIF_PROVIDER)
    condition = "assertion.repository_id == '999'"
    broken = _with(
        pinned_platform, replace(provider, inputs={**provider.inputs, "attributeCondition": condition})
    )
    assert _violated(broken, pinned_platform) == {"wif-pinned-to-repository"}


@pytest.mark.parametrize("type_token", sorted(policies.KEY_TYPES))
def test_long_lived_key_is_caught(platform, type_token):
    key = Resource("urn:test::key", type_token, "key", {"serviceAccountId": "runner"})
    assert _violated(_with(platform, key), platform) == {"no-keys"}


def test_violation_names_the_policy_and_the_urn(platform):
    bucket = _first(platform, policies.BUCKET)
    broken = replace(bucket, inputs={**bucket.inputs, "uniformBucketLevelAccess": False})
    [violation] = policies.private_buckets([broken])
    assert str(violation) == f"[private-buckets] {bucket.urn}: uniformBucketLevelAccess is not true"
