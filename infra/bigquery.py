"""BigQuery datasets that hold batch inputs (tables of requests) and outputs (tables of results)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.cmek import grant_key_to_agent

_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class BatchDatasetsArgs:
    project: str
    region: str
    dataset_ids: Sequence[str]
    labels: dict[str, str] = field(default_factory=dict)
    table_expiration_days: int | None = None
    kms_key_name: str | None = None
    depends_on: Sequence[pulumi.Resource] = ()


class BatchDatasets(pulumi.ComponentResource):
    """One regional dataset per id; Vertex AI requires batch tables in the job's region."""

    def __init__(self, name: str, args: BatchDatasetsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("claude-jobs:bigquery:BatchDatasets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        encryption = None
        self.kms_grant: gcp.kms.CryptoKeyIAMMember | None = None
        if args.kms_key_name:
            # BigQuery encrypts tables as its own service account, which needs the key first.
            agent = gcp.bigquery.get_default_service_account_output(
                project=args.project,
                opts=pulumi.InvokeOutputOptions(parent=self, depends_on=list(args.depends_on)),
            )
            self.kms_grant = grant_key_to_agent(
                f"{name}-bigquery-agent-cmek", args.kms_key_name, agent.member, child
            )
            encryption = gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(
                kms_key_name=args.kms_key_name
            )
            child = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.kms_grant]))

        expiration_ms = args.table_expiration_days * _DAY_MS if args.table_expiration_days else None
        self.datasets: dict[str, gcp.bigquery.Dataset] = {
            dataset_id: gcp.bigquery.Dataset(
                f"{name}-{dataset_id}",
                dataset_id=dataset_id,
                project=args.project,
                location=args.region,
                description="claude-jobs batch prediction tables (managed by Pulumi)",
                default_table_expiration_ms=expiration_ms,
                default_encryption_configuration=encryption,
                labels=args.labels,
                # Results are data someone may still need: refuse to drop non-empty datasets.
                delete_contents_on_destroy=False,
                opts=child,
            )
            for dataset_id in args.dataset_ids
        }
        self.dataset_ids = pulumi.Output.all(*[ds.dataset_id for ds in self.datasets.values()])
        self.register_outputs({"dataset_ids": self.dataset_ids})
