"""Write rendered requests where a batch job can read them, streaming, in bounded memory.

A job's input is either JSONL objects in Cloud Storage or a BigQuery table with
columns `custom_id STRING, request JSON`. JSONL is cut into segments of about
2 MB (`…/part00000/seg-00000.jsonl`), each uploaded whole by a small thread
pool while the next one is rendered, and the job is given every segment's URI
(Vertex reads a list of objects): rendering and uploading overlap, and memory
holds a few segments whatever the row count. Next to each segment goes
`seg-NNNNN.ids`, its bare custom_ids, so collection can tell which rows are
missing without re-reading the requests, and with `output.keep`
`seg-NNNNN.kept`, one line of kept values for every row of the segment (every
request of such a spec has them), which collection then uses as its index of
the expected ids (runner.batch.kept). BigQuery input is NDJSON spooled to
a temporary file, then one load job per part. The custom_id rule and
uniqueness are enforced by the renderer while staging iterates it, so a bad
input stops before any job is submitted.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from runner.batch.identity import JobKey
from runner.batch.kept import kept_line
from runner.errors import SpecError, in_context, remote_failures
from runner.records import Request

SEGMENT_BYTES = 2 << 20  # one object of a job's input: one small multipart upload each
UPLOAD_THREADS = 2
IN_FLIGHT = 3  # segments rendered but not yet uploaded, at most


@dataclass(frozen=True)
class StagedPart:
    """One job's input, written or found in place."""

    key: JobKey
    input_uris: tuple[str, ...]  # gs://…jsonl segments, or one bq://p.d.t
    count: int


@dataclass
class Staged:
    parts: list[StagedPart] = field(default_factory=list)
    total: int = 0
    input_tokens: int = 0  # estimate, for the budget and the plan


@dataclass(frozen=True)
class Layout:
    """Where a spec revision's inputs and outputs live, from `batch.input` / `batch.output`."""

    input: str  # gs://bucket/prefix or bq://project.dataset
    output: str
    spec_name: str
    rev: str

    def input_uri(self, key: JobKey, segment: int = 0) -> str:
        """A segment object of the part's input, or the part's input table."""
        if self.input.startswith("gs://"):
            return f"{self._gcs_base(self.input)}/{key.slug()}/seg-{segment:05d}.jsonl"
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
    return (
        _beside(input_uri, ".ids") if input_uri.startswith("gs://") and input_uri.endswith(".jsonl") else None
    )


def _beside(jsonl_uri: str, suffix: str) -> str:
    """The object staged next to a JSONL input segment: its `.ids` or `.kept`."""
    return jsonl_uri[: -len(".jsonl")] + suffix


def kept_uri(input_uri: str) -> str | None:
    """The kept source values (`output.keep`) staged next to a JSONL input, if any were kept."""
    return _beside(input_uri, ".kept") if input_uri.endswith(".jsonl") else None


KEPT_PREFIX = "kept__"  # staged kept columns: never a name Vertex reserves (request, response, status)


def input_line(request: Request) -> bytes:
    """Vertex's input shape: `{"custom_id", "request"}`, one JSON object per line."""
    return orjson.dumps({"custom_id": request.custom_id, "request": request.body})


class _Discard:
    """A part whose job already exists: count its rows, write nothing."""

    def write(self, request: Request, line: bytes) -> None:
        pass

    def close(self) -> tuple[str, ...]:
        return ()

    def abort(self) -> None:
        pass


class _Uploader:
    """Uploads whole segments from a small thread pool; `put` blocks while IN_FLIGHT are pending."""

    def __init__(self, storage):
        self.storage = storage
        self.pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="claude-jobs-upload")
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.futures: list[Future] = []

    def put(self, uri: str, data: bytes, content_type: str) -> None:
        self._raise_failed()
        self.slots.acquire()
        future = self.pool.submit(self._upload, uri, data, content_type)
        future.add_done_callback(lambda _: self.slots.release())
        self.futures.append(future)

    def _upload(self, uri: str, data: bytes, content_type: str) -> None:
        from runner.dataio.sources import split_gs

        bucket, name = split_gs(uri)
        self.storage.bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)

    def finish(self) -> None:
        """Wait for every upload; raise the first failure."""
        try:
            for future in self.futures:
                future.result()
        except Exception as exc:
            raise _upload_error(exc) from None
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _raise_failed(self) -> None:
        for future in self.futures:
            error = future.exception() if future.done() else None
            if error is not None:
                raise _upload_error(error)
        self.futures = [f for f in self.futures if not f.done()]


def _upload_error(exc: BaseException) -> BaseException:
    known = in_context(
        exc,
        "uploading the batch input failed",
        hint="the staging bucket (batch.input) must exist and be writable",
    )
    return exc if known is None else known


class _GcsPart:
    """One part as JSONL segments, handed to the uploader as each one fills up."""

    def __init__(self, uploader: _Uploader, layout: Layout, key: JobKey):
        self.uploader = uploader
        self.layout = layout
        self.key = key
        self.uris: list[str] = []
        self.lines: list[bytes] = []
        self.ids: list[str] = []
        self.kept: list[bytes] = []
        self.size = 0

    def write(self, request: Request, line: bytes) -> None:
        self.lines.append(line)
        self.ids.append(request.custom_id)
        if request.kept is not None:
            self.kept.append(kept_line(request.custom_id, orjson.dumps(request.kept)))
        self.size += len(line) + 1
        if self.size >= SEGMENT_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.lines:
            return
        uri = self.layout.input_uri(self.key, len(self.uris))
        self.lines.append(b"")
        self.uploader.put(uri, b"\n".join(self.lines), "application/jsonl")
        self.uploader.put(_beside(uri, ".ids"), ("\n".join(self.ids) + "\n").encode(), "text/plain")
        if self.kept:  # beside the input, never in it: Vertex's input lines are {custom_id, request}
            self.uploader.put(_beside(uri, ".kept"), b"\n".join(self.kept) + b"\n", "application/jsonl")
        self.uris.append(uri)
        self.lines, self.ids, self.kept, self.size = [], [], [], 0

    def close(self) -> tuple[str, ...]:
        self._flush()
        return tuple(self.uris)

    def abort(self) -> None:
        self.lines, self.ids, self.kept = [], [], []


class _BigQueryPart:
    def __init__(self, bigquery, uri: str, location: str, kept_types: dict[str, str] | None = None):
        self.client = bigquery
        self.uri = uri
        self.location = location
        self.kept_types = kept_types or {}
        self.spool = tempfile.TemporaryFile(prefix="claude-jobs-stage-")

    def write(self, request: Request, line: bytes) -> None:
        if request.kept is not None and self.kept_types:
            # Extra columns of the input table (Vertex ignores them), typed like the destination's,
            # so the results' kept columns are filled by one MERGE that BigQuery runs.
            extra = {KEPT_PREFIX + name: value for name, value in request.kept.items()}
            line = line[:-1] + b"," + orjson.dumps(extra, default=str)[1:]
        self.spool.write(line + b"\n")

    def close(self) -> tuple[str, ...]:
        from google.cloud import bigquery

        cfg = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            schema=[
                bigquery.SchemaField("custom_id", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("request", "JSON", mode="REQUIRED"),
            ]
            + [bigquery.SchemaField(KEPT_PREFIX + name, kind) for name, kind in self.kept_types.items()],
        )
        self.spool.seek(0)
        try:
            with remote_failures(
                f"loading the batch input table {self.uri} failed",
                hint="the dataset must exist and be writable",
            ):
                # No size=: a resumable upload (the BigQuery emulator refuses small multipart loads).
                job = self.client.load_table_from_file(
                    self.spool, self.uri.removeprefix("bq://"), job_config=cfg, location=self.location
                )
                job.result()
        finally:
            self.spool.close()
        return (self.uri,)

    def abort(self) -> None:
        self.spool.close()


def stage(
    requests: Iterable[Request],
    target,
    layout: Layout,
    *,
    max_per_job: int,
    retry: int = 0,
    parts_needed: Callable[[int], bool] = lambda part: True,
    max_requests: int | None = None,
    token_estimate: Callable[[dict], int] | None = None,
    max_input_tokens: int | None = None,
    region: str = "us-east5",
    where: str = "",
    kept_types: dict[str, str] | None = None,
) -> Staged:
    """Write `requests` as job inputs of at most `max_per_job` rows each.

    `parts_needed(part)` False skips writing a part whose job already exists
    (its rows are still counted and checked). Budget limits stop staging as
    soon as they are exceeded, before any job is submitted.
    """
    gcs = layout.input.startswith("gs://")
    uploader = _Uploader(target.storage()) if gcs else None
    bigquery = None if gcs else target.bigquery()
    staged = Staged()
    writer, count, part = None, 0, -1
    pending: list[tuple[int, int, tuple[str, ...]]] = []  # (part, count, uris)

    def open_part(n: int):
        key = JobKey(retry=retry, part=n, parts=0)
        if not parts_needed(n):
            return _Discard()
        if uploader is not None:
            return _GcsPart(uploader, layout, key)
        return _BigQueryPart(bigquery, layout.input_uri(key), region, kept_types)

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
                raise SpecError(
                    f"more than {max_requests} requests (budget.max_requests)",
                    where=where or "budget.max_requests",
                    hint="raise budget.max_requests or narrow the source",
                )
            if token_estimate is not None:
                staged.input_tokens += token_estimate(request.body)
                if max_input_tokens is not None and staged.input_tokens > max_input_tokens:
                    raise SpecError(
                        f"more than {max_input_tokens} estimated input tokens (budget.max_input_tokens)",
                        where=where or "budget.max_input_tokens",
                        hint="raise budget.max_input_tokens or narrow the source",
                    )
        if writer is not None:
            pending.append((part, count, writer.close()))
            writer = None
        if uploader is not None:
            uploader.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        if uploader is not None:
            uploader.abort()
        raise
    parts = len(pending)
    staged.parts = [StagedPart(JobKey(retry=retry, part=n, parts=parts), uris, c) for n, c, uris in pending]
    return staged
