"""The claude-jobs platform: wires the components together and exports what the runner reads.

Settings are read and validated in config.py; resources live in the components.
"""

import sys
from pathlib import Path

import pulumi

# Pulumi runs this folder as a script; make `infra` importable as the package the tests use.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.bigquery import BatchDatasets, BatchDatasetsArgs
from infra.config import load_config
from infra.identity import (
    AccessTargets,
    RunnerIdentity,
    RunnerIdentityArgs,
    VertexServiceAgent,
    VertexServiceAgentArgs,
)
from infra.services import ProjectServices, ProjectServicesArgs
from infra.storage import STATE_PREFIX, BatchBucket, BatchBucketArgs
from infra.wif import GitHubFederation, GitHubFederationArgs

cfg = load_config()
prefix = cfg.name_prefix

services = ProjectServices(prefix, ProjectServicesArgs(project=cfg.project))

bucket = BatchBucket(
    f"{prefix}-batch",
    BatchBucketArgs(
        project=cfg.project,
        region=cfg.region,
        bucket_name=cfg.bucket_name,
        retention_days=cfg.retention_days,
        noncurrent_retention_days=cfg.noncurrent_retention_days,
        labels=cfg.resource_labels,
        kms_key_name=cfg.kms_key_name,
        depends_on=services.after("storage.googleapis.com"),
    ),
)

datasets = BatchDatasets(
    f"{prefix}-datasets",
    BatchDatasetsArgs(
        project=cfg.project,
        region=cfg.region,
        dataset_ids=cfg.dataset_ids,
        labels=cfg.resource_labels,
        table_expiration_days=cfg.table_expiration_days,
        kms_key_name=cfg.kms_key_name,
        depends_on=services.after("bigquery.googleapis.com"),
    ),
)

targets = AccessTargets(
    project=cfg.project,
    bucket=bucket.bucket_name,
    datasets={ds_id: ds.dataset_id for ds_id, ds in datasets.datasets.items()},
)

runner = RunnerIdentity(
    f"{prefix}-runner",
    RunnerIdentityArgs(
        targets=targets, account_id=f"{prefix}-runner", depends_on=services.after("iam.googleapis.com")
    ),
)

vertex_agent = VertexServiceAgent(
    f"{prefix}-vertex-agent",
    VertexServiceAgentArgs(targets=targets, aiplatform_api=services.enabled["aiplatform.googleapis.com"]),
)

github = GitHubFederation(
    f"{prefix}-github",
    GitHubFederationArgs(
        project=cfg.project,
        pool_id=f"{prefix}-github",
        repository=cfg.github.name,
        repository_id=cfg.github.repository_id,
        owner_id=cfg.github.owner_id,
        service_account_name=runner.account.name,
        depends_on=services.after(
            "iam.googleapis.com", "sts.googleapis.com", "iamcredentials.googleapis.com"
        ),
    ),
)

# The keys `runner/spec/stack_outputs.py` and `claude-jobs validate --stack-outputs` read.
pulumi.export("project", cfg.project)
pulumi.export("region", cfg.region)
pulumi.export("bucket", bucket.bucket_name)
# Where `claude-jobs` keeps ledgers, locks and claims shared by every runner (CLAUDE_JOBS_STATE).
pulumi.export("stateUri", bucket.bucket_name.apply(lambda name: f"gs://{name}/{STATE_PREFIX}"))
pulumi.export("bigquery_datasets", datasets.dataset_ids)
pulumi.export("runner_service_account", runner.email)
pulumi.export("workload_identity_provider", github.provider_name)
pulumi.export("vertex_service_agent", vertex_agent.email)
