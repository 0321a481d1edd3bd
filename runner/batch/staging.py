"""Write rendered requests where a batch job can read them, streaming, in bounded memory.

Each job's input is either a JSONL object (`gs://…/partNNNNN.jsonl`, written
with a resumable upload as lines are produced) or a BigQuery table with
columns `custom_id STRING, request JSON` (NDJSON spooled to a temporary file,
then one load job). Next to a JSONL object goes `partNNNNN.ids`, the bare
custom_ids, so collection can tell which rows are missing without re-reading
the requests. Custom ids are checked here, where every request passes once:
the rule, and uniqueness with 8 bytes of memory per row.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from ..errors import RemoteError, SpecError
from ..records import Request
from .identity import JobKey

GCS_CHUNK = 8 << 20          # resumable upload chunk (a multiple of 256 KiB); the writer's buffer
IDS_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedPart:
    """One job's input, written or found in place."""

    key: JobKey
    input_uri: str               # gs://…jsonl or bq://p.d.t
    count: int


@dataclass
class Staged:
    parts: list[StagedPart] = field(default_factory=list)
    total: int = 0
    input_tokens: int = 0        # estimate, for the budget and the plan


@dataclass(frozen=True)
class Layout:
    """Where a spec revision's inputs and outputs live, from `batch.input` / `batch.output`."""

    input: str                   # gs://bucket/prefix or bq://project.dataset
    output: str
    spec_name: str
    rev: str

    def input_uri(self, key: JobKey) -> str:
        if self.input.startswith("gs://"):
            return f"{self._gcs_base(self.input)}/{key.slug()}.jsonl"
        return f"{self.input}.{self._table(key)}"

    def output_uri(self, key: JobKey) -> str:
        """Vertex's output: a prefix (it adds prediction-model-<ts>/) or a table to create."""
        if self.output.startswith("gs://"):
            return f"{self._gcs_base(self.output)}/out/{key.slug()}"
        return f"{self.output}.{self._table(key)}_out"

    def _gcs_base(self, prefix: str) -> str:
        return f"{prefix.rstrip('/')}/{self.spec_name}/{self.rev}"

    def _table(self, key: JobKey) -> str:
        return f"cj_{self.spec_name}_{self.rev}_{key.slug()}".replace("-", "_")


def ids_uri(input_uri: str) -> str | None:
    """The custom_id list staged next to a JSONL input, if we wrote it."""
    return input_uri[:-len(".jsonl")] + ".ids" if input_uri.startswith("gs://") and \
        input_uri.endswith(".jsonl") else None


def input_line(request: Request) -> bytes:
    """Vertex's input shape: `{"custom_id", "request"}`, one JSON object per line."""
    return orjson.dumps({"custom_id": request.custom_id, "request": request.body})


class _Discard:
    """A part whose job already exists: count its rows, write nothing."""

    def write(self, request: Request, line: bytes) -> None:
        pass

    def close(self) -> str | None:
        return None

    def abort(self) -> None:
        pass


class _GcsPart:
    def __init__(self, storage, uri: str):
        from ..sources import split_gs

        bucket_name, name = split_gs(uri)
        bucket = storage.bucket(bucket_name)
        self.uri = uri
        self.blobs = [bucket.blob(name), bucket.blob(name[:-len(".jsonl")] + ".ids")]
        self.data = self.blobs[0].open("wb", chunk_size=GCS_CHUNK, ignore_flush=True,
                                       content_type="application/jsonl")
        self.ids = self.blobs[1].open("wb", chunk_size=IDS_CHUNK, ignore_flush=True,
                                      content_type="text/plain")

    def write(self, request: Request, line: bytes) -> None:
        self.data.write(line + b"\n")
        self.ids.write(request.custom_id.encode() + b"\n")

    def close(self) -> str:
        self.data.close()
        self.ids.close()
        return self.uri

    def abort(self) -> None:
        # An unfinished resumable upload never becomes an object; nothing to delete.
        pass


class _BigQueryPart:
    def __init__(self, bigquery, uri: str, location: str):
        self.client = bigquery
        self.uri = uri
        self.location = location
        self.spool = tempfile.TemporaryFile(prefix="claude-jobs-stage-")

    def write(self, request: Request, line: bytes) -> None:
        self.spool.write(line + b"\n")

    def close(self) -> str:
        from google.cloud import bigquery

        cfg = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            schema=[bigquery.SchemaField("custom_id", "STRING", mode="REQUIRED"),
                    bigquery.SchemaField("request", "JSON", mode="REQUIRED")])
        self.spool.seek(0)
        try:
            # No size=: a resumable upload (the BigQuery emulator refuses small multipart loads).
            job = self.client.load_table_from_file(self.spool, self.uri.removeprefix("bq://"),
                                                   job_config=cfg, location=self.location)
            job.result()
        except Exception as exc:
            if type(exc).__module__.startswith("google."):
                raise RemoteError(f"loading the batch input table {self.uri} failed: {exc}",
                                  status=getattr(exc, "code", None),
                                  hint="the dataset must exist and be writable") from None
            raise
        finally:
            self.spool.close()
        return self.uri

    def abort(self) -> None:
        self.spool.close()


def stage(requests: Iterable[Request], target, layout: Layout, *, max_per_job: int,
          retry: int = 0, parts_needed: Callable[[int], bool] = lambda part: True,
          max_requests: int | None = None, token_estimate: Callable[[dict], int] | None = None,
          max_input_tokens: int | None = None, region: str = "us-east5",
          where: str = "") -> Staged:
    """Write `requests` as job inputs of at most `max_per_job` rows each.

    `parts_needed(part)` False skips writing a part whose job already exists
    (its rows are still counted and checked). Budget limits stop staging as
    soon as they are exceeded, before any job is submitted.
    """
    storage = target.storage() if layout.input.startswith("gs://") else None
    bigquery = None if storage else target.bigquery()
    staged = Staged()
    writer, count, part = None, 0, -1
    pending: list[tuple[int, int, str | None]] = []   # (part, count, uri)

    def open_part(n: int):
        key = JobKey(retry=retry, part=n, parts=0)
        if not parts_needed(n):
            return _Discard()
        uri = layout.input_uri(key)
        return _GcsPart(storage, uri) if storage else _BigQueryPart(bigquery, uri, region)

    try:
        for request in requests:
            if writer is None or count == max_per_job:
                if writer is not None:
                    pending.append((part, count, writer.close()))
                part += 1
                writer, count = open_part(part), 0
            line = input_line(request)
            writer.write(request, line)
            count += 1
            staged.total += 1
            if max_requests is not None and staged.total > max_requests:
                raise SpecError(f"more than {max_requests} requests (budget.max_requests)",
                                where=where or "budget.max_requests",
                                hint="raise budget.max_requests or narrow the source")
            if token_estimate is not None:
                staged.input_tokens += token_estimate(request.body)
                if max_input_tokens is not None and staged.input_tokens > max_input_tokens:
                    raise SpecError(f"more than {max_input_tokens} estimated input tokens "
                                    "(budget.max_input_tokens)",
                                    where=where or "budget.max_input_tokens",
                                    hint="raise budget.max_input_tokens or narrow the source")
        if writer is not None:
            pending.append((part, count, writer.close()))
            writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    parts = len(pending)
    staged.parts = [StagedPart(JobKey(retry=retry, part=n, parts=parts),
                               uri or layout.input_uri(JobKey(retry, n, parts)), c)
                    for n, c, uri in pending]
    return staged
