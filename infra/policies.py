"""Security policies over the resources a Pulumi program declares.

Each policy takes the declared resources (type token and inputs, as recorded
by the unit-test mocks or any other engine hook) and returns its violations;
an empty list means the policy holds. Inputs use Pulumi's wire names
(`uniformBucketLevelAccess`), exactly as the engine receives them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
# Long-lived credentials that must never exist: keys leak, federation does not.
KEY_TYPES = frozenset(
    {
        "gcp:serviceaccount/key:Key",
        "gcp:storage/hmacKey:HmacKey",
        "gcp:projects/apiKey:ApiKey",
    }
)
# Types whose data lives in a location: they must name one (BigQuery defaults to the US).
LOCATED_TYPES = frozenset({BUCKET, DATASET})
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


@dataclass(frozen=True)
class Resource:
    """One declared resource: its URN, type token, name and inputs."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.urn}: {self.message}"


def no_basic_roles(resources: Iterable[Resource]) -> list[Violation]:
    """Owner, editor and viewer grant thousands of permissions: never grant them."""
    return [
        Violation("no-basic-roles", r.urn, f"grants basic role {role}")
        for r in resources
        for role, _ in _grants(r)
        if role in BASIC_ROLES
    ]


def no_public_members(resources: Iterable[Resource]) -> list[Violation]:
    """Nothing is granted to allUsers or allAuthenticatedUsers."""
    return [
        Violation("no-public-members", r.urn, f"grants {role} to {member}")
        for r in resources
        for role, member in _grants(r)
        if member in PUBLIC_MEMBERS
    ]


def member_level_iam_only(resources: Iterable[Resource]) -> list[Violation]:
    """IAM is granted member by member: *IAMPolicy / *IAMBinding would rewrite others' access."""
    return [
        Violation("member-level-iam-only", r.urn, f"authoritative IAM resource {r.type}")
        for r in resources
        if _authoritative_iam(r.type)
    ]


def private_buckets(resources: Iterable[Resource]) -> list[Violation]:
    """Every bucket enforces public access prevention and uniform bucket-level access."""
    found = []
    for r in resources:
        if r.type != BUCKET:
            continue
        if r.inputs.get("publicAccessPrevention") != "enforced":
            found.append(Violation("private-buckets", r.urn, "publicAccessPrevention is not 'enforced'"))
        if r.inputs.get("uniformBucketLevelAccess") is not True:
            found.append(Violation("private-buckets", r.urn, "uniformBucketLevelAccess is not true"))
    return found


def in_region(resources: Iterable[Resource], region: str) -> list[Violation]:
    """Every resource that has a location is in `region` (data residency, Vertex batch locality)."""
    found = []
    for r in resources:
        for key in ("location", "region"):
            value = r.inputs.get(key)
            if value is not None and str(value).lower() != region.lower():
                found.append(Violation("in-region", r.urn, f"{key} is {value!r}, not {region!r}"))
        if r.type in LOCATED_TYPES and r.inputs.get("location") is None:
            found.append(Violation("in-region", r.urn, f"no location: it would default outside {region!r}"))
    return found


def wif_pinned_to_repository(
    resources: Iterable[Resource], repository: str, repository_id: str | None = None
) -> list[Violation]:
    """Every workload identity provider has a condition naming the repository (name or id)."""
    found = []
    for r in resources:
        if r.type != WIF_PROVIDER:
            continue
        condition = r.inputs.get("attributeCondition") or ""
        names = [f"'{repository}'", f'"{repository}"']
        if repository_id:
            names += [f"'{repository_id}'", f'"{repository_id}"']
        if not any(name in condition for name in names):
            found.append(
                Violation(
                    "wif-pinned-to-repository",
                    r.urn,
                    f"attributeCondition {condition!r} does not name {repository}",
                )
            )
    return found


def no_keys(resources: Iterable[Resource]) -> list[Violation]:
    """No service account keys, HMAC keys or API keys are created."""
    return [
        Violation("no-keys", r.urn, f"creates a long-lived key ({r.type})")
        for r in resources
        if r.type in KEY_TYPES
    ]


def check_all(
    resources: Iterable[Resource], *, region: str, repository: str, repository_id: str | None = None
) -> list[Violation]:
    """Every policy over the same resources."""
    resources = list(resources)
    checks: list[Callable[[list[Resource]], list[Violation]]] = [
        no_basic_roles,
        no_public_members,
        member_level_iam_only,
        private_buckets,
        no_keys,
        lambda rs: in_region(rs, region),
        lambda rs: wif_pinned_to_repository(rs, repository, repository_id),
    ]
    return [violation for check in checks for violation in check(resources)]


def _authoritative_iam(type_token: str) -> bool:
    """`gcp:projects/iAMPolicy:IAMPolicy`, `gcp:storage/bucketIAMBinding:BucketIAMBinding`, ..."""
    kind = type_token.rsplit(":", 1)[-1].lower()
    return kind.endswith(("iampolicy", "iambinding"))


def _grants(resource: Resource) -> Iterator[tuple[str, str]]:
    """(role, member) pairs of any IAM resource: *IAMMember, *IAMBinding or *IAMPolicy."""
    inputs = resource.inputs
    role = inputs.get("role")
    if role is not None:
        members = [m for m in [inputs.get("member"), *(inputs.get("members") or [])] if m]
        for member in members or [""]:
            yield role, member
    policy = inputs.get("policyData")
    if isinstance(policy, str) and policy:
        for binding in json.loads(policy).get("bindings", []):
            for member in binding.get("members", []) or [""]:
                yield binding.get("role", ""), member
