"""Runs the real Pulumi program in-process under `pulumi.runtime.set_mocks` (imported by conftest and tests).

The mocks answer like Google Cloud would (ids, emails, resource names), and a
recording monitor keeps every resource the program registers: URN, type,
parent, dependencies and inputs, for the unit and policy tests.
"""

from __future__ import annotations

import asyncio
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
if str(REPO) not in sys.path:  # `infra` is a folder of the repo, not an installed package
    sys.path.insert(0, str(REPO))

from infra.policies import Resource  # noqa: E402

PROJECT = "acme-claude-prod"
PROJECT_NUMBER = "123456789012"
BASE_CONFIG = {
    "project": PROJECT,
    "githubRepository": "acme/claude-jobs",
}


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any]


class RecordingMonitor(MockMonitor):
    """The stock mock monitor, plus a record of every registration and registered outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}
        self.component_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations[response.urn] = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                dependencies=list(request.dependencies),
                inputs=rpc.deserialize_properties(request.object),
            )
        return response

    def RegisterResourceOutputs(self, request):
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


class GoogleCloudMocks(pulumi.runtime.Mocks):
    """Plausible provider answers: what Google Cloud computes for each resource and lookup."""

    def __init__(self):
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        project = inputs.get("project", PROJECT)
        computed: dict[str, Any] = {}
        resource_id = f"{args.name}-id"
        if args.typ == "gcp:storage/bucket:Bucket":
            resource_id = inputs["name"]
            computed = {
                "url": f"gs://{inputs['name']}",
                "selfLink": f"https://www.googleapis.com/storage/v1/b/{inputs['name']}",
            }
        elif args.typ == "gcp:bigquery/dataset:Dataset":
            resource_id = f"projects/{project}/datasets/{inputs['datasetId']}"
        elif args.typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
            resource_id = f"projects/{project}/serviceAccounts/{email}"
            computed = {
                "email": email,
                "member": f"serviceAccount:{email}",
                "name": resource_id,
                "uniqueId": "104729104729104729104",
            }
        elif args.typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            agent = inputs["service"].split(".")[0]
            email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
            computed = {"email": email, "member": f"serviceAccount:{email}"}
        elif args.typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            resource_id = (
                f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
                f"{inputs['workloadIdentityPoolId']}"
            )
            computed = {"name": resource_id, "state": "ACTIVE"}
        elif args.typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            resource_id = (
                f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
                f"{inputs['workloadIdentityPoolId']}/providers/"
                f"{inputs['workloadIdentityPoolProviderId']}"
            )
            computed = {"name": resource_id, "state": "ACTIVE"}
        return resource_id, {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": email, "member": f"serviceAccount:{email}"}
        if args.token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
            email = f"bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com"
            return {"email": email, "member": f"serviceAccount:{email}"}
        raise AssertionError(f"the program made an unexpected lookup: {args.token}")


@dataclass
class PlatformRun:
    """What one run of the program produced."""

    namespace: dict[str, Any]  # __main__'s globals: cfg, bucket, runner, ...
    exports: dict[str, Any]  # resolved stack outputs
    registrations: dict[str, Registration]
    component_outputs: dict[str, dict[str, Any]]
    calls: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_token]

    def one(self, type_token: str, name: str) -> Registration:
        matches = [r for r in self.of_type(type_token) if r.name == name]
        assert len(matches) == 1, f"expected one {type_token} named {name}, got {len(matches)}"
        return matches[0]

    def resources(self) -> list[Resource]:
        """Every custom (cloud) resource, in the shape the policies take."""
        return [Resource(r.urn, r.type, r.name, r.inputs) for r in self.registrations.values() if r.custom]


def ensure_event_loop() -> None:
    """Pulumi's runtime uses the thread's current loop; async tests run earlier may have closed it."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_closed():
            raise RuntimeError("closed")
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(*, preview: bool = False, **settings: Any) -> PlatformRun:
    """Run infra/ as Pulumi would (a folder run as __main__) with `claude-jobs:*` settings."""
    ensure_event_loop()
    mocks = GoogleCloudMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="claude-jobs", stack="test", preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(
        {f"claude-jobs:{key}": value for key, value in settings.items() if value is not None}
    )
    stack = pulumi.runtime.get_root_resource()
    stack.outputs = {}
    namespace: dict[str, Any] = {}
    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        namespace.update(runpy.run_path(str(INFRA), run_name="__main__"))
        return pulumi.Output.all(**stack.outputs).apply(exports.update)

    program()
    return PlatformRun(
        namespace, exports, dict(monitor.registrations), dict(monitor.component_outputs), mocks.calls
    )
