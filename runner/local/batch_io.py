"""Batch job I/O: read instances from the emulators, answer each row, write Vertex's output shapes.

Only google-cloud-storage and google-cloud-bigquery are used, pointed at the
emulators through `runner.clients.Target`, with the emulator workarounds of
shared/reference/local-emulators.md (JSON values sent as strings, no CSV).
Everything here is synchronous: the engine runs it in a worker thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import fnmatch
import hashlib
import http
import json
from dataclasses import dataclass, field
from typing import Any

from runner.clients import Target

RESERVED_COLUMNS = ("response", "status", "processed_time")


class JobInputError(Exception):
    """The job cannot run: its input or output is missing or malformed. `code` is a google.rpc code."""

    def __init__(self, message: str, code: int = 3):
        super().__init__(message)
        self.code = code


@dataclass
class Row:
    """One instance: its custom_id and request, plus the other input columns (BigQuery)."""

    custom_id: Any
    request: Any
    columns: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why it cannot be sent (bad JSON line, ...)


@dataclass
class RowResult:
    row: Row
    response: dict | None
    status: str  # "" on success, "Bad Request: {...}" otherwise
    processed_time: str

    @property
    def ok(self) -> bool:
        return self.status == ""


def status_text(http_status: int, body: dict) -> str:
    """Vertex's per-row status: `Bad Request: {"error": {...}}`."""
    reason = "Overloaded" if http_status == 529 else http.HTTPStatus(http_status).phrase
    return f"{reason}: {json.dumps(body, separators=(',', ':'))}"


def parse_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise JobInputError(f"Invalid Cloud Storage URI {uri!r}: expected gs://BUCKET/PATH")
    bucket, _, path = uri[5:].partition("/")
    return bucket, path


def parse_bq(uri: str, default_project: str) -> tuple[str, str | None, str | None]:
    """`bq://project[.dataset[.table]]` -> (project, dataset, table)."""
    if not uri.startswith("bq://") or not uri[5:]:
        raise JobInputError(f"Invalid BigQuery URI {uri!r}: expected bq://PROJECT.DATASET.TABLE")
    parts = uri[5:].split(".")
    if len(parts) > 3 or not all(parts):
        raise JobInputError(f"Invalid BigQuery URI {uri!r}: expected bq://PROJECT.DATASET.TABLE")
    padded: list[str | None] = [*parts, None, None]
    return padded[0] or default_project, padded[1], padded[2]


def parse_bq_dataset(uri: str, default_project: str) -> tuple[str, str]:
    """`bq://project.dataset` (the output dataset this engine names in outputInfo) -> (project, dataset)."""
    project, dataset, _ = parse_bq(uri, default_project)
    if dataset is None:
        raise JobInputError(f"Invalid BigQuery dataset {uri!r}: expected bq://PROJECT.DATASET")
    return project, dataset


# -- reading ------------------------------------------------------------------


def read_gcs_rows(target: Target, uris: list[str]) -> list[Row]:
    from google.api_core.exceptions import NotFound

    client = target.storage()
    rows: list[Row] = []
    for uri in uris:
        bucket_name, path = parse_gs(uri)
        try:
            if any(ch in path for ch in "*?["):
                # The emulator ignores match_glob: list the literal prefix and match here.
                prefix = path[: min(path.index(ch) for ch in "*?[" if ch in path)]
                names = sorted(
                    b.name
                    for b in client.list_blobs(bucket_name, prefix=prefix)
                    if fnmatch.fnmatchcase(b.name, path)
                )
                if not names:
                    raise JobInputError(f"No files match {uri}", code=5)
            else:
                names = [path]
            bucket = client.bucket(bucket_name)
            for name in names:
                text = bucket.blob(name).download_as_bytes().decode("utf-8", errors="replace")
                rows += [_jsonl_row(line) for line in text.splitlines() if line.strip()]
        except NotFound:
            raise JobInputError(
                f"Failed to read {uri}: the object or bucket does not exist", code=5
            ) from None
    return rows


def _jsonl_row(line: str) -> Row:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return Row(None, line, problem=f"Invalid JSON in the input line: {exc}")
    if not isinstance(data, dict):
        return Row(None, data, problem="Each input line must be a JSON object")
    row = Row(data.get("custom_id"), data.get("request"))
    if not isinstance(row.request, dict):
        row.problem = "request: Field required (a JSON object)"
    return row


def read_bigquery_rows(target: Target, uri: str, location: str) -> tuple[list[Row], list]:
    """The rows and the table schema (kept for the output table)."""
    from google.api_core.exceptions import NotFound

    project, dataset, table = parse_bq(uri, target.project)
    if not dataset or not table:
        raise JobInputError(f"Invalid BigQuery input {uri!r}: expected bq://PROJECT.DATASET.TABLE")
    client = target.bigquery()
    try:
        check_dataset_location(client, project, dataset, location)
        table_ref = client.get_table(f"{project}.{dataset}.{table}")
    except NotFound:
        raise JobInputError(f"BigQuery table {project}.{dataset}.{table} was not found", code=5) from None
    names = [f.name for f in table_ref.schema]
    if "custom_id" not in names or "request" not in names:
        raise JobInputError(f"BigQuery table {uri} must have the columns custom_id and request")
    reserved = [n for n in names if n in RESERVED_COLUMNS[:2]]
    if reserved:
        raise JobInputError(
            f"BigQuery table {uri} uses the reserved column name(s) {', '.join(reserved)}; rename them"
        )
    rows = []
    for record in client.list_rows(table_ref):
        values = dict(record.items())
        request = values.get("request")
        row = Row(values.get("custom_id"), request, columns=values)
        if isinstance(request, str):
            try:
                row.request = json.loads(request)
            except json.JSONDecodeError as exc:
                row.problem = f"request: invalid JSON: {exc}"
        if not row.problem and not isinstance(row.request, dict):
            row.problem = "request: Field required (a JSON object)"
        rows.append(row)
    return rows, list(table_ref.schema)


def check_dataset_location(client, project: str, dataset: str, location: str) -> None:
    found = client.get_dataset(f"{project}.{dataset}").location or "US"
    if found.lower() != location.lower():
        raise JobInputError(
            f"BigQuery dataset {project}.{dataset} is in location {found}, but "
            f"the batch prediction job runs in {location}; they must match",
            code=9,
        )


# -- answering ----------------------------------------------------------------


def injected_failure(index: int, rate: float, offset: int = 0) -> bool:
    """Whether row `index` is one of the injected failures: exactly `rate` of the rows, evenly
    spread (so a test with few rows still sees some fail and some succeed)."""
    return int((index + 1 + offset) * rate) > int((index + offset) * rate)


def answer_row(row: Row, model: str, fail: bool, simulator) -> RowResult:
    """One row's result: an injected failure, a refusal, or the simulated Claude's reply."""
    from runner.local.faults import google_error
    from runner.local.predict import Reject, validate_messages_body

    processed = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    if row.problem:
        return RowResult(
            row, None, status_text(400, google_error(400, "INVALID_ARGUMENT", row.problem)), processed
        )
    if fail:
        return RowResult(
            row,
            None,
            status_text(
                400,
                google_error(
                    400,
                    "FAILED_PRECONDITION",
                    "The request could not be processed (row failure simulated by the local stack).",
                ),
            ),
            processed,
        )
    try:
        validate_messages_body(row.request)
    except Reject as reject:
        return RowResult(row, None, status_text(reject.status, reject.body), processed)
    outcome = simulator.respond(row.request, model, str(row.custom_id))
    if outcome.status != 200:
        return RowResult(row, None, status_text(outcome.status, outcome.payload), processed)
    return RowResult(row, outcome.payload, "", processed)


# -- writing ------------------------------------------------------------------


def output_order(results: list[RowResult]) -> list[RowResult]:
    """Vertex does not keep input order; a stable hash order makes that visible in tests."""
    return sorted(results, key=lambda r: hashlib.sha1(repr(r.row.custom_id).encode()).hexdigest())


def write_gcs(target: Target, directory: str, results: list[RowResult], files: int = 1) -> None:
    """`predictions.jsonl`; with `files` > 1 the lines are spread over that many `*.jsonl`
    files (names of our own: readers must take every `*.jsonl` in the directory)."""
    bucket_name, path = parse_gs(directory)
    lines = []
    for result in output_order(results):
        line: dict[str, Any] = {"custom_id": result.row.custom_id, "request": result.row.request}
        if result.response is not None:
            line["response"] = result.response
        line["status"] = result.status
        line["processed_time"] = result.processed_time
        lines.append(json.dumps(line, ensure_ascii=False))
    bucket = target.storage().bucket(bucket_name)
    for part in range(max(files, 1)):
        chunk = lines[part :: max(files, 1)]
        data = ("\n".join(chunk) + "\n" if chunk else "").encode()
        name = "predictions.jsonl" if part == 0 else f"predictions_{part + 1:05d}.jsonl"
        bucket.blob(f"{path}/{name}").upload_from_string(data, content_type="application/jsonl")


def prepare_gcs_output(target: Target, directory: str) -> None:
    """Fail early (before rows are answered) when the output bucket is missing."""
    bucket_name, _ = parse_gs(directory)
    if target.storage().lookup_bucket(bucket_name) is None:
        raise JobInputError(f"Cloud Storage bucket {bucket_name} for the output does not exist", code=5)


def prepare_bigquery_output(target: Target, project: str, dataset: str, table: str, location: str) -> None:
    """Fail early (before rows are answered) when the output dataset is missing or elsewhere."""
    from google.api_core.exceptions import NotFound

    client = target.bigquery()
    try:
        check_dataset_location(client, project, dataset, location)
    except NotFound:
        raise JobInputError(f"BigQuery dataset {project}.{dataset} was not found", code=5) from None


def write_bigquery(
    target: Target,
    project: str,
    dataset: str,
    table: str,
    input_schema: list | None,
    results: list[RowResult],
) -> None:
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    client = target.bigquery()
    schema = (
        list(input_schema)
        if input_schema
        else [bigquery.SchemaField("custom_id", "STRING"), bigquery.SchemaField("request", "JSON")]
    )
    schema = [f for f in schema if f.name not in RESERVED_COLUMNS] + [
        bigquery.SchemaField("response", "JSON"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("processed_time", "TIMESTAMP"),
    ]
    ref = f"{project}.{dataset}.{table}"
    try:
        client.create_table(bigquery.Table(ref, schema=schema))
    except Conflict:
        pass  # an existing table named by outputUri receives the rows
    types = {f.name: f.field_type for f in schema}
    rows = []
    for result in output_order(results):
        columns = dict(result.row.columns) or {
            "custom_id": result.row.custom_id,
            "request": result.row.request,
        }
        record = {
            name: _bq_value(value, types.get(name))
            for name, value in columns.items()
            if name in types and name not in RESERVED_COLUMNS
        }
        record["response"] = json.dumps(result.response) if result.response is not None else None
        record["status"] = result.status
        record["processed_time"] = result.processed_time
        rows.append(record)
    for start in range(0, len(rows), 1000):
        errors = client.insert_rows_json(ref, rows[start : start + 1000])
        if errors:
            raise JobInputError(f"BigQuery refused output rows for {ref}: {errors[:3]}", code=13)


def _bq_value(value: Any, field_type: str | None) -> Any:
    """An input value as insert_rows_json needs it (the emulator wants JSON values as strings)."""
    if value is None:
        return None
    if field_type == "JSON":
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _bq_value(v, None) for k, v in value.items()}
    if isinstance(value, list):
        return [_bq_value(v, None) for v in value]
    return value
