"""Read back what a batch job read and wrote: its input ids and requests, its output lines.

Streams only: a Cloud Storage object is read in ranged chunks and split into
lines, a BigQuery table page by page.
"""

from __future__ import annotations

from collections.abc import Container, Iterator

import orjson

from runner.batch.collect import keyed_lines, keyed_rows
from runner.batch.jobs import BatchJob
from runner.batch.staging import KEPT_PREFIX, ids_uri, kept_uri
from runner.records import Request

CHUNK = 4 << 20
BQ_PAGE = 5_000


def _gcs_blocks(storage, uri: str) -> Iterator[bytes]:
    """The object in blocks of whole lines, about CHUNK bytes each (the last may lack its newline)."""
    from runner.dataio.sources import google_errors, split_gs

    bucket, name = split_gs(uri)
    blob = storage.bucket(bucket).blob(name)
    tail = b""
    with google_errors(uri), blob.open("rb", chunk_size=CHUNK) as reader:
        while chunk := reader.read(CHUNK):
            buffer = tail + chunk if tail else chunk
            cut = buffer.rfind(b"\n") + 1
            if cut:
                yield buffer[:cut]
            tail = buffer[cut:]
    if tail:
        yield tail


def _gcs_lines(storage, uri: str) -> Iterator[bytes]:
    for block in _gcs_blocks(storage, uri):
        # One line at a time: a list of every line of a block of short ids is large.
        start = 0
        find = block.find
        while (end := find(b"\n", start)) >= 0:
            yield block[start:end]
            start = end + 1
        if start < len(block):
            yield block[start:]


def _gcs_exists(storage, uri: str) -> bool:
    from runner.dataio.sources import split_gs

    bucket, name = split_gs(uri)
    return storage.bucket(bucket).blob(name).exists()


def _gcs_names(storage, directory: str) -> Iterator[str]:
    """The `gs://` URI of every object under a folder."""
    from runner.dataio.sources import google_errors, split_gs

    bucket, prefix = split_gs(directory.rstrip("/") + "/")
    with google_errors(directory):
        for blob in storage.list_blobs(bucket, prefix=prefix):
            yield f"gs://{bucket}/{blob.name}"


def output_objects(storage, directory: str) -> list[str]:
    """Every `*.jsonl` object under a job's output directory (the emulator ignores match_glob)."""
    return sorted(uri for uri in _gcs_names(storage, directory) if uri.endswith(".jsonl"))


def _bq_rows(bigquery, uri: str, fields: list[str] | None = None) -> Iterator[dict]:
    from runner.dataio.sources import google_errors

    table_id = uri.removeprefix("bq://")
    with google_errors(uri):
        table = bigquery.get_table(table_id)
        selected = [f for f in table.schema if fields is None or f.name in fields]
        for row in bigquery.list_rows(table, selected_fields=selected, page_size=BQ_PAGE):
            yield dict(row.items())


class JobFiles:
    """Readers over one target's storage and BigQuery clients (built on first use)."""

    def __init__(self, target):
        self.target = target
        self._storage = None
        self._bigquery = None

    @property
    def storage(self):
        if self._storage is None:
            self._storage = self.target.storage()
        return self._storage

    @property
    def bigquery(self):
        if self._bigquery is None:
            self._bigquery = self.target.bigquery()
        return self._bigquery

    def outputs(self, job: BatchJob) -> Iterator[tuple[bytes, bytes]]:
        """(custom_id, output line) for every row the job wrote; nothing if it wrote nothing."""
        if job.output_dir:
            for uri in output_objects(self.storage, job.output_dir):
                yield from keyed_lines(_gcs_lines(self.storage, uri))
        elif job.output_table:
            try:
                self.bigquery.get_table(job.output_table.removeprefix("bq://"))
            except Exception as exc:
                if getattr(exc, "code", None) == 404:
                    return  # the job ended before writing its table
                raise
            yield from keyed_rows(_bq_rows(self.bigquery, job.output_table))

    def input_ids(self, job: BatchJob) -> Iterator[bytes]:
        """The custom_id of every row the job was given."""
        for uri in job.input_uris:
            ids = ids_uri(uri)
            if ids and _gcs_exists(self.storage, ids):
                for line in _gcs_lines(self.storage, ids):
                    if line:
                        yield line
            elif uri.startswith("gs://"):
                for line in _gcs_lines(self.storage, uri):
                    if line.strip():
                        yield str(orjson.loads(line).get("custom_id")).encode()
            else:
                for row in _bq_rows(self.bigquery, uri, ["custom_id"]):
                    yield str(row.get("custom_id")).encode()

    def kept(self, job: BatchJob) -> Iterator[bytes]:
        """Blocks of whole kept lines (`{"custom_id": ..., "kept": {...}}`) of every row the job was
        given, where kept (runner.batch.kept)."""
        from runner.batch.kept import kept_line

        for uri in job.input_uris:
            if uri.startswith("gs://"):
                side = kept_uri(uri)
                if side and _gcs_exists(self.storage, side):
                    yield from _gcs_blocks(self.storage, side)
                continue
            table = self.bigquery.get_table(uri.removeprefix("bq://"))
            names = [f.name for f in table.schema if f.name.startswith(KEPT_PREFIX)]
            lines = []
            for row in _bq_rows(self.bigquery, uri, ["custom_id", *names]) if names else ():
                kept = {name.removeprefix(KEPT_PREFIX): row.get(name) for name in names}
                lines.append(kept_line(str(row["custom_id"]), orjson.dumps(kept, default=str)))
                if len(lines) == BQ_PAGE:
                    yield b"\n".join(lines) + b"\n"
                    lines = []
            if lines:
                yield b"\n".join(lines) + b"\n"

    def kept_names_every_id(self, job: BatchJob) -> bool:
        """Whether `kept(job)` has one line for every row the job was given: every JSONL input
        has its `.kept` object (staging writes one line a row there, with `output.keep`), and
        every table input its `kept__` columns."""
        if not job.input_uris:
            return False
        for uri in job.input_uris:
            if uri.startswith("gs://"):
                side = kept_uri(uri)
                if side is None or not _gcs_exists(self.storage, side):
                    return False
            elif not any(
                f.name.startswith(KEPT_PREFIX)
                for f in self.bigquery.get_table(uri.removeprefix("bq://")).schema
            ):
                return False
        return True

    def input_requests(self, job: BatchJob, wanted: Container[str]) -> Iterator[Request]:
        """The requests of the job's input whose custom_id is in `wanted`, in input order."""
        for uri in job.input_uris:
            if uri.startswith("gs://"):
                for line in _gcs_lines(self.storage, uri):
                    if not line.strip():
                        continue
                    row = orjson.loads(line)
                    if row.get("custom_id") in wanted:
                        yield Request(row["custom_id"], row["request"])
            else:
                for row in _bq_rows(self.bigquery, uri, ["custom_id", "request"]):
                    if row.get("custom_id") in wanted:
                        body = row["request"]
                        yield Request(row["custom_id"], orjson.loads(body) if isinstance(body, str) else body)
