"""The Google APIs the platform needs, enabled once and left enabled on destroy."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

REQUIRED_SERVICES = (
    "aiplatform.googleapis.com",  # Claude online and batch prediction
    "bigquery.googleapis.com",  # batch inputs and outputs as tables
    "storage.googleapis.com",  # batch staging and outputs as objects
    "iam.googleapis.com",  # service accounts, workload identity pools
    "iamcredentials.googleapis.com",  # CI impersonates the runner service account
    "sts.googleapis.com",  # CI exchanges its GitHub OIDC token
)


@dataclass(frozen=True)
class ProjectServicesArgs:
    project: str
    services: tuple[str, ...] = REQUIRED_SERVICES


class ProjectServices(pulumi.ComponentResource):
    """One `projects.Service` per API; `self.enabled[api]` lets grants wait for their API."""

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:services:ProjectServices", name, None, opts)
        self.enabled: dict[str, gcp.projects.Service] = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                # Other workloads in the project may use these APIs: destroying this
                # stack must never switch them off, nor their dependents.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in args.services
        }
        self.register_outputs({"services": [svc.service for svc in self.enabled.values()]})

    def after(self, *apis: str) -> list[pulumi.Resource]:
        """The enablement resources to `depends_on` for resources that call these APIs."""
        return [self.enabled[api] for api in apis]
