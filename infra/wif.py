"""Workload Identity Federation: GitHub Actions of one repository act as the runner, with no keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

# GitHub OIDC claims copied onto the federated identity, for conditions and audit logs.
ATTRIBUTE_MAPPING = {
    "google.subject": "assertion.sub",
    "attribute.actor": "assertion.actor",
    "attribute.repository": "assertion.repository",
    "attribute.repository_id": "assertion.repository_id",
    "attribute.repository_owner": "assertion.repository_owner",
    "attribute.repository_owner_id": "assertion.repository_owner_id",
    "attribute.ref": "assertion.ref",
}


@dataclass(frozen=True)
class GitHubFederationArgs:
    project: str
    pool_id: str
    repository: str  # "owner/repo"
    repository_id: str | None  # numeric ids are preferred: names can be re-registered
    owner_id: str | None
    service_account_name: pulumi.Input[str]  # projects/P/serviceAccounts/EMAIL of the runner
    depends_on: Sequence[pulumi.Resource] = ()


def attribute_condition(repository: str, repository_id: str | None, owner_id: str | None) -> str:
    """A CEL condition that admits tokens of the configured repository only."""
    clauses = [
        f"assertion.repository_id == '{repository_id}'"
        if repository_id
        else f"assertion.repository == '{repository}'"
    ]
    if owner_id:
        clauses.append(f"assertion.repository_owner_id == '{owner_id}'")
    return " && ".join(clauses)


def principal_attribute(repository: str, repository_id: str | None) -> str:
    """`attribute.<name>/<value>` naming the repository in a principalSet."""
    if repository_id:
        return f"attribute.repository_id/{repository_id}"
    return f"attribute.repository/{repository}"


class GitHubFederation(pulumi.ComponentResource):
    """A pool, its GitHub OIDC provider, and `workloadIdentityUser` on the runner for that repo only."""

    def __init__(self, name: str, args: GitHubFederationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:wif:GitHubFederation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=args.project,
            workload_identity_pool_id=args.pool_id,
            display_name="GitHub Actions",
            description=f"GitHub Actions of {args.repository} (claude-jobs, managed by Pulumi)",
            opts=child,
        )
        self.provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            project=args.project,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github-actions",
            display_name="GitHub Actions OIDC",
            attribute_mapping=ATTRIBUTE_MAPPING,
            attribute_condition=attribute_condition(args.repository, args.repository_id, args.owner_id),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
            opts=child,
        )
        attribute = principal_attribute(args.repository, args.repository_id)
        self.principal_set = self.pool.name.apply(
            lambda pool: f"principalSet://iam.googleapis.com/{pool}/{attribute}"
        )
        self.runner_binding = gcp.serviceaccount.IAMMember(
            f"{name}-runner-workload-identity-user",
            service_account_id=args.service_account_name,
            role="roles/iam.workloadIdentityUser",
            member=self.principal_set,
            opts=child,
        )
        self.provider_name = self.provider.name
        self.register_outputs(
            {"pool": self.pool.name, "provider": self.provider.name, "principal_set": self.principal_set}
        )
