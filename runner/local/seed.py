"""Seed a fresh local stack like the Pulumi program provisions a real project, plus example inputs.

Idempotent: each object is created only if it is missing, so `local up` on an
existing stack folder never duplicates rows.
"""

from __future__ import annotations

import io
from pathlib import Path

from runner.clients import Target

SEED_DATA = Path(__file__).resolve().parent / "seed_data"
BUCKET = "claude-jobs-local"
DATASET = "claude_jobs"
LOCATION = "us-east5"
EXAMPLE_OBJECT = "examples/tickets.jsonl"
EXAMPLE_TABLE = "example_tickets"


def warm_imports() -> None:
    import google.cloud.bigquery
    import google.cloud.storage  # noqa: F401


def seed_stack(endpoints) -> None:
    target = Target(
        project=endpoints.project,
        local=True,
        vertex_url=endpoints.vertex,
        storage_url=endpoints.storage,
        bigquery_url=endpoints.bigquery,
    )
    tickets = (SEED_DATA / "tickets.jsonl").read_bytes()
    seed_storage(target, tickets)
    seed_bigquery(target, tickets)


def seed_storage(target: Target, tickets: bytes) -> None:
    from google.api_core.exceptions import PreconditionFailed

    client = target.storage()
    bucket = client.lookup_bucket(BUCKET) or client.create_bucket(BUCKET, location=LOCATION)
    try:
        bucket.blob(EXAMPLE_OBJECT).upload_from_string(
            tickets, content_type="application/jsonl", if_generation_match=0
        )
    except PreconditionFailed:
        pass  # already seeded


def seed_bigquery(target: Target, tickets: bytes) -> None:
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    client = target.bigquery()
    dataset = bigquery.Dataset(f"{target.project}.{DATASET}")
    dataset.location = LOCATION
    client.create_dataset(dataset, exists_ok=True)
    schema = [
        bigquery.SchemaField("id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("product", "STRING"),
        bigquery.SchemaField("body", "STRING"),
    ]
    table = bigquery.Table(f"{target.project}.{DATASET}.{EXAMPLE_TABLE}", schema=schema)
    try:
        client.create_table(table)
    except Conflict:
        return  # already seeded
    # The emulator refuses small multipart loads: no `size=` forces a resumable upload.
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON, schema=schema)
    client.load_table_from_file(io.BytesIO(tickets), table, job_config=config).result()
