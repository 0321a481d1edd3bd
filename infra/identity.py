"""Who may do what: the runner's service account and the Vertex AI service agent, least privilege.

Every grant is a member-level (non-authoritative) IAM resource, so this stack
never removes access that something else in the project relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

RUNNER_PROJECT_ROLES = ("roles/aiplatform.user", "roles/bigquery.jobUser")
RUNNER_BUCKET_ROLES = ("roles/storage.objectAdmin",)
# Vertex AI reads staged inputs and writes new result files; it never needs to
# overwrite or delete objects, so viewer + creator instead of objectAdmin.
AGENT_BUCKET_ROLES = ("roles/storage.objectViewer", "roles/storage.objectCreator")
AGENT_PROJECT_ROLES = ("roles/bigquery.jobUser",)
DATASET_ROLES = ("roles/bigquery.dataEditor",)


@dataclass(frozen=True)
class AccessTargets:
    """What the identities are granted on: the project, the bucket, the datasets."""

    project: str
    bucket: pulumi.Input[str]  # the bucket resource's name output
    datasets: Mapping[str, pulumi.Input[str]]  # dataset id -> the dataset's id output


@dataclass(frozen=True)
class RunnerIdentityArgs:
    targets: AccessTargets
    account_id: str
    depends_on: Sequence[pulumi.Resource] = ()


class RunnerIdentity(pulumi.ComponentResource):
    """The service account `claude-jobs` runs as (locally via impersonation, in CI via WIF)."""

    def __init__(self, name: str, args: RunnerIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:identity:RunnerIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.account = gcp.serviceaccount.Account(
            name,
            account_id=args.account_id,
            project=args.targets.project,
            display_name="claude-jobs runner",
            description="Runs claude-jobs batch and stream jobs on Vertex AI (managed by Pulumi)",
            opts=child,
        )
        self.grants = _grant(
            name,
            self.account.member,
            args.targets,
            RUNNER_PROJECT_ROLES,
            RUNNER_BUCKET_ROLES,
            DATASET_ROLES,
            child,
        )
        self.email = self.account.email
        self.register_outputs({"email": self.account.email, "member": self.account.member})


@dataclass(frozen=True)
class VertexServiceAgentArgs:
    targets: AccessTargets
    aiplatform_api: pulumi.Resource  # the enabled aiplatform.googleapis.com
    depends_on: Sequence[pulumi.Resource] = ()


class VertexServiceAgent(pulumi.ComponentResource):
    """Creates the Vertex AI service agent now, so first batch jobs do not fail while it is provisioned."""

    def __init__(self, name: str, args: VertexServiceAgentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:identity:VertexServiceAgent", name, None, opts)
        after_api = [args.aiplatform_api, *args.depends_on]
        # ServiceIdentity is a google-beta resource; pulumi-gcp bridges the beta Terraform
        # provider, so the default provider serves it (no separate beta provider).
        self.identity = gcp.projects.ServiceIdentity(
            name,
            project=args.targets.project,
            service="aiplatform.googleapis.com",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.aiplatform_api]),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[*after_api, self.identity])
        self.grants = _grant(
            name,
            self.identity.member,
            args.targets,
            AGENT_PROJECT_ROLES,
            AGENT_BUCKET_ROLES,
            DATASET_ROLES,
            child,
        )
        self.email = self.identity.email
        self.register_outputs({"email": self.identity.email, "member": self.identity.member})


def _grant(
    name: str,
    member: pulumi.Input[str],
    targets: AccessTargets,
    project_roles: Sequence[str],
    bucket_roles: Sequence[str],
    dataset_roles: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """Member-level grants of each role on its narrowest resource."""
    grants: list[pulumi.Resource] = []
    for role in project_roles:
        grants.append(
            gcp.projects.IAMMember(
                f"{name}-{_short(role)}", project=targets.project, role=role, member=member, opts=opts
            )
        )
    for role in bucket_roles:
        grants.append(
            gcp.storage.BucketIAMMember(
                f"{name}-bucket-{_short(role)}", bucket=targets.bucket, role=role, member=member, opts=opts
            )
        )
    for dataset_id, dataset_output in targets.datasets.items():
        for role in dataset_roles:
            grants.append(
                gcp.bigquery.DatasetIamMember(
                    f"{name}-{dataset_id}-{_short(role)}",
                    project=targets.project,
                    dataset_id=dataset_output,
                    role=role,
                    member=member,
                    opts=opts,
                )
            )
    return grants


def _short(role: str) -> str:
    """`roles/storage.objectAdmin` -> `storage-objectAdmin`, for readable resource names."""
    return role.removeprefix("roles/").replace(".", "-")
