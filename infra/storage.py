"""The Cloud Storage bucket where batch jobs stage their inputs and write their outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.cmek import grant_key_to_agent

# Prefixes the runner writes under; objects there are transient and expire.
STAGING_PREFIX = "staging/"
OUTPUT_PREFIX = "output/"
STATE_PREFIX = "claude-jobs-state"  # ledgers, locks, claims: never expired by a lifecycle rule


@dataclass(frozen=True)
class BatchBucketArgs:
    project: str
    region: str
    bucket_name: str
    retention_days: int
    noncurrent_retention_days: int
    labels: dict[str, str] = field(default_factory=dict)
    kms_key_name: str | None = None
    depends_on: Sequence[pulumi.Resource] = ()


class BatchBucket(pulumi.ComponentResource):
    """A private, versioned, regional bucket whose staging/ and output/ objects expire."""

    def __init__(self, name: str, args: BatchBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:storage:BatchBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        encryption = None
        self.kms_grant: gcp.kms.CryptoKeyIAMMember | None = None
        if args.kms_key_name:
            # Cloud Storage encrypts with its own service agent: it needs the key before
            # the bucket can name it as default, or bucket creation fails.
            agent = gcp.storage.get_project_service_account_output(
                project=args.project,
                opts=pulumi.InvokeOutputOptions(parent=self, depends_on=list(args.depends_on)),
            )
            self.kms_grant = grant_key_to_agent(
                f"{name}-storage-agent-cmek", args.kms_key_name, agent.member, child
            )
            encryption = gcp.storage.BucketEncryptionArgs(default_kms_key_name=args.kms_key_name)
            child = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.kms_grant]))

        self.bucket = gcp.storage.Bucket(
            name,
            name=args.bucket_name,
            project=args.project,
            location=args.region.upper(),  # the API reports locations upper-case
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=_lifecycle_rules(args.retention_days, args.noncurrent_retention_days),
            encryption=encryption,
            labels=args.labels,
            opts=child,
        )

        self.bucket_name = self.bucket.name
        self.register_outputs({"name": self.bucket.name, "url": self.bucket.url})


def _lifecycle_rules(retention_days: int, noncurrent_days: int) -> list:
    """Expire staged inputs and collected outputs, then their old versions, and stray uploads."""
    return [
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                age=retention_days, matches_prefixes=[STAGING_PREFIX, OUTPUT_PREFIX]
            ),
        ),
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                days_since_noncurrent_time=noncurrent_days, with_state="ARCHIVED"
            ),
        ),
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=1),
        ),
    ]
