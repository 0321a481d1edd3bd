"""Checks made before any batch job is submitted; every problem is reported with its fix.

Cheap facts first (region, catalog, URIs), then the remote ones (buckets,
datasets and their locations, objects and tables). The custom_id rule,
uniqueness and the budget are checked while the requests are staged, which is
still before the first submission.
"""

from __future__ import annotations

import re

from runner.errors import RemoteError, SpecError, SpecErrors

REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
BQ_DATASET_RE = re.compile(r"^bq://[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+$")


def static_problems(spec, region: str) -> list[SpecError]:
    """What can be told from the spec and the catalog alone."""
    from runner.spec.catalog import catalog

    problems: list[SpecError] = []
    if region == "global" or not REGION_RE.match(region):
        problems.append(
            SpecError(
                f"batch prediction needs a regional location, not {region!r}",
                where="region",
                hint="set region: us-east5 (or another region the model serves) in the spec",
            )
        )
    info = catalog().get(spec.model)
    if info is None:
        problems.append(
            SpecError(
                f"model {spec.model!r} is not in the catalog",
                where="model",
                hint="run `claude-jobs validate` for the known model ids",
            )
        )
    elif region not in info.batch_regions:
        problems.append(
            SpecError(
                f"{spec.model} does not serve batch prediction in {region}",
                where="region",
                hint=f"use one of: {', '.join(info.batch_regions) or 'none (use mode: stream)'}",
            )
        )
    options = spec.batch
    for key, uri in (("batch.input", options.input), ("batch.output", options.output)):
        if uri is None and key == "batch.output":
            continue
        if not uri or not ((uri.startswith("gs://") and len(uri) > 5) or BQ_DATASET_RE.match(uri)):
            problems.append(
                SpecError(
                    f"{key} must be gs://BUCKET/PREFIX or bq://PROJECT.DATASET, not {uri!r}",
                    where=key,
                    hint="point it at a bucket or dataset in the job's region",
                )
            )
    if options.max_requests_per_job < 1:
        problems.append(
            SpecError("batch.max_requests_per_job must be at least 1", where="batch.max_requests_per_job")
        )
    return problems


def remote_problems(spec, target, region: str) -> list[SpecError]:
    """Buckets, datasets (and their locations), objects and tables the jobs will use."""
    problems: list[SpecError] = []
    options = spec.batch
    datasets: dict[str, str] = {}  # dataset id -> which key needs it
    buckets: dict[str, str] = {}
    for key, uri in (("batch.input", options.input), ("batch.output", options.output)):
        if not uri:
            continue
        if uri.startswith("gs://"):
            buckets.setdefault(uri[5:].split("/", 1)[0], key)
        else:
            datasets.setdefault(uri.removeprefix("bq://"), key)
    prepared = spec.prepared
    if prepared is not None and prepared.kind == "bigquery":
        table = prepared.uri.removeprefix("bq://")
        datasets.setdefault(table.rsplit(".", 1)[0], "prepared")
    if buckets:
        storage = target.storage()
        for bucket, key in buckets.items():
            if not _bucket_exists(storage, bucket):
                problems.append(
                    SpecError(
                        f"bucket gs://{bucket} does not exist",
                        where=key,
                        hint=f"create it in {region}: gcloud storage buckets "
                        f"create gs://{bucket} --location={region}",
                    )
                )
    if datasets:
        bigquery = target.bigquery()
        for dataset, key in datasets.items():
            problems.extend(_dataset_problems(bigquery, dataset, key, region))
    for ref, key in (
        (prepared, "prepared"),
        (spec.template.source if spec.template else None, "template.source"),
    ):
        if ref is None or ref.kind not in ("gcs", "bigquery"):
            continue
        problems.extend(_source_problems(target, ref, key))
    return problems


def check(spec, target, region: str) -> None:
    """Raise SpecErrors listing every problem, static ones before any network call."""
    problems = static_problems(spec, region)
    if problems:
        raise SpecErrors(problems)
    problems = remote_problems(spec, target, region)
    if problems:
        raise SpecErrors(problems)


def output_tables_taken(target, uris: list[str]) -> list[SpecError]:
    """Vertex refuses to write a BigQuery output table that already exists."""
    problems = []
    bigquery = None
    for uri in uris:
        if not uri.startswith("bq://"):
            continue
        bigquery = bigquery or target.bigquery()
        if _table_exists(bigquery, uri.removeprefix("bq://")):
            problems.append(
                SpecError(
                    f"the output table {uri} already exists",
                    where="batch.output",
                    hint=f"delete it (bq rm -t {uri.removeprefix('bq://')}) or point batch.output "
                    "at another dataset",
                )
            )
    return problems


def _bucket_exists(storage, bucket: str) -> bool:
    from runner.dataio.sources import google_errors

    with google_errors(f"gs://{bucket}", verb="check"):
        return storage.lookup_bucket(bucket) is not None


def _table_exists(bigquery, table_id: str) -> bool:
    from runner.dataio.sources import google_errors

    try:
        with google_errors(f"bq://{table_id}", verb="check"):
            bigquery.get_table(table_id)
        return True
    except RemoteError as exc:
        if exc.status == 404:
            return False
        raise


def _dataset_problems(bigquery, dataset: str, key: str, region: str) -> list[SpecError]:
    from runner.dataio.sources import google_errors

    try:
        with google_errors(f"bq://{dataset}", verb="check"):
            found = bigquery.get_dataset(dataset)
    except RemoteError as exc:
        if exc.status == 404:
            return [
                SpecError(
                    f"dataset {dataset} does not exist",
                    where=key,
                    hint=f"create it in the job's region: bq mk --location={region} "
                    f"--dataset {dataset.replace('.', ':', 1)}",
                )
            ]
        raise
    location = (found.location or "").lower()
    if location != region.lower():
        return [
            SpecError(
                f"dataset {dataset} is in {found.location or 'an unknown location'}, "
                f"but the batch job runs in {region}",
                where=key,
                hint=f"Vertex reads and writes BigQuery only in the job's region: use a "
                f"dataset created with --location={region}, or set region: "
                f"{location or region} if the model serves it",
            )
        ]
    return []


def _source_problems(target, ref, key: str) -> list[SpecError]:
    if ref.kind == "gcs":
        from runner.dataio.sources import google_errors, missing_object, split_gs

        bucket, name = split_gs(ref.uri)
        storage = target.storage()
        with google_errors(ref.uri, verb="check"):
            exists = storage.bucket(bucket).blob(name).exists()
        return [] if exists else [missing_object(storage, ref.uri, key)]
    if not _table_exists(target.bigquery(), ref.uri.removeprefix("bq://")):
        return [
            SpecError(
                f"no such BigQuery table: {ref.uri}",
                where=key,
                hint="create it, or fix the project.dataset.table name",
            )
        ]
    return []
