"""Rows from a `.jsonl`/`.csv` file, a `gs://` object, a `bq://` table or a query, streamed.

`open_rows(ref, target)` returns a `RowSource`: iterate it for dicts (never a
whole file or table in memory), `numbered()` for `(n, row)` pairs where `n` is
the line number (files, objects) or the 1-based row number (BigQuery), and
`locate(n)` turns `n` into the place a user can look at (`data/x.csv:57`).
`fingerprint()` is a cheap identity of the content for the spec revision.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
from collections.abc import Iterator
from typing import Any

from runner.clients import Target
from runner.errors import ConfigError, RemoteError, SpecError, remote_failures
from runner.paths import shown
from runner.spec.model import SourceRef
from runner.spec.row_parsers import CSV_FIELD_LIMIT, BadCsv, BadJson, csv_records, parse_json_line

GCS_CHUNK = 4 << 20  # bytes per ranged read of a Cloud Storage object
_READ_CHUNK = 1 << 20  # bytes per read of a local file
BQ_PAGE = 5_000  # rows per BigQuery page


class RowSource:
    """Rows of one input; iterate it as often as needed (each pass re-reads the input)."""

    def __init__(self, ref: SourceRef):
        self.ref = ref
        self.name = ref.uri if ref.kind != "query" else "query"

    def columns(self) -> list[str] | None:
        """Column names when the input declares them (CSV header, BigQuery schema), else None."""
        return None

    def numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for _, row in self.numbered():
            yield row

    def locate(self, n: int) -> str:
        return f"{self.name}:{n}"

    def fingerprint(self) -> str:
        raise NotImplementedError


# -- files and objects: JSONL and CSV over a stream of bytes ------------------


def _jsonl_rows(chunks: Iterator[bytes], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; one chunk of bytes in memory at a time."""
    lineno = 0
    tail = b""
    for chunk in itertools.chain(_without_bom(chunks), (b"\n",)):  # "\n" ends an unended last line
        lines = (tail + chunk if tail else chunk).split(b"\n")
        tail = lines.pop()
        for line in lines:
            lineno += 1
            try:
                row = parse_json_line(line)
            except BadJson as exc:
                if line.strip():
                    raise _bad_line(name, lineno, exc) from None
                continue
            if type(row) is not dict:
                raise _bad_line(name, lineno, None)
            yield lineno, row


def _without_bom(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Drop a UTF-8 byte order mark (Excel and some exporters write one) from the first chunk."""
    chunks = iter(chunks)
    first = next(chunks, b"")
    yield first.removeprefix(codecs.BOM_UTF8)
    yield from chunks


def _bad_line(name: str, lineno: int, exc: BadJson | None) -> SpecError:
    hint = 'each line of a .jsonl input must be one JSON object, e.g. {"id": 1, "text": "..."}'
    if exc is None:
        return SpecError("not a JSON object", where=f"{name}:{lineno}", hint=hint)
    # Each line is parsed alone: the decoder's own "line 1 column N" would contradict `lineno`.
    where = f"{name}:{lineno}:{exc.column}" if exc.column else f"{name}:{lineno}"
    return SpecError(f"not valid JSON: {exc.message}", where=where, hint=hint)


def _csv_rows(text: io.TextIOBase, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    records = csv_records(text)
    try:
        first = next(records, None)
        if first is None:
            return
        header = first[1]
        if header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        width = len(header)
        for start, values in records:
            if len(values) != width:
                raise SpecError(
                    f"{len(values)} fields where the header has {width}",
                    where=f"{name}:{start}",
                    hint="quote fields that contain commas or newlines",
                )
            yield start, dict(zip(header, values))
    except BadCsv as exc:
        raise SpecError(exc.message, where=f"{name}:{exc.line}", hint=exc.hint) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: {exc.reason}", where=name, hint="save the file as UTF-8") from None


def _csv_header(text: io.TextIOBase) -> list[str]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    header = next(csv.reader(text), [])
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    return header


class FileRows(RowSource):
    """A local `.jsonl` or `.csv` file."""

    def __init__(self, ref: SourceRef):
        super().__init__(ref)
        if ref.path is not None:
            self.name = shown(ref.path)  # as the user opens it, not as the spec names it

    def _path(self):
        path = self.ref.path
        if path is None or not path.is_file():
            raise SpecError(
                f"no such file: {self.ref.uri}",
                where=self.name,
                hint="paths are relative to the spec file's folder",
            )
        return path

    def columns(self) -> list[str] | None:
        if self.ref.format != "csv":
            return None
        with open(self._path(), encoding="utf-8", newline="", errors="replace") as fh:
            return _csv_header(fh)

    def numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        path = self._path()
        if self.ref.format == "csv":
            with open(path, encoding="utf-8", newline="") as fh:
                yield from _csv_rows(fh, self.name)
            return
        with open(path, "rb") as fh:
            yield from _jsonl_rows(iter(lambda: fh.read(_READ_CHUNK), b""), self.name)

    def fingerprint(self) -> str:
        return "sha256:" + file_sha256(self._path())


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_gs(uri: str) -> tuple[str, str]:
    """`gs://bucket/a/b` -> ("bucket", "a/b")."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def google_errors(what: str, where: str | None = None, verb: str = "read"):
    """Google client failures inside the block become located errors naming `what`.

    Remote refusals are RemoteErrors (`cannot read gs://b/o: …`), credential problems the
    ConfigError `errors.translate` gives them; anything else is a bug and propagates as is.
    """
    return remote_failures(f"cannot {verb} {what}", where=where)


def missing_object(client, uri: str, where: str) -> SpecError:
    """The error for a `gs://` object that is not there, which names its bucket if that is missing."""
    bucket, _ = split_gs(uri)
    with google_errors(f"gs://{bucket}", where, verb="check"):
        bucket_exists = client.bucket(bucket).exists()
    if not bucket_exists:
        return SpecError(
            f"no such Cloud Storage bucket: gs://{bucket}",
            where=where,
            hint="create it, or fix the bucket name",
        )
    return SpecError(
        f"no such Cloud Storage object: {uri}",
        where=where,
        hint=f"upload it first: gcloud storage cp FILE {uri}",
    )


def gcs_blob(target: Target | None, uri: str, where: str, client=None):
    """The object behind `uri` with its metadata loaded (generation pinned), or a located error."""
    client = client or _need(target, uri, where).storage()
    bucket, name = split_gs(uri)
    if not bucket or not name:
        raise SpecError(
            f"not a Cloud Storage object URI: {uri}", where=where, hint="write gs://BUCKET/path/to/object"
        )
    with google_errors(uri, where):
        blob = client.bucket(bucket).get_blob(name)
    if blob is None:
        raise missing_object(client, uri, where)
    return blob


def gcs_fingerprint(blob) -> str:
    return f"gcs:{blob.generation}:{blob.md5_hash or blob.crc32c or blob.size}"


class GcsRows(RowSource):
    """A `gs://bucket/object.jsonl|csv`, read in ranged chunks of one pinned generation."""

    def __init__(self, ref: SourceRef, target: Target | None):
        super().__init__(ref)
        self.target = target

    def _chunks(self, blob) -> Iterator[bytes]:
        with blob.open("rb", chunk_size=GCS_CHUNK) as reader:
            while chunk := reader.read(GCS_CHUNK):
                yield chunk

    def columns(self) -> list[str] | None:
        if self.ref.format != "csv":
            return None
        blob = gcs_blob(self.target, self.ref.uri, self.name)
        with blob.open("rb", chunk_size=1 << 16) as reader:
            return _csv_header(io.TextIOWrapper(reader, encoding="utf-8", newline="", errors="replace"))

    def numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        blob = gcs_blob(self.target, self.ref.uri, self.name)
        if self.ref.format == "csv":
            with blob.open("rb", chunk_size=GCS_CHUNK) as reader:
                yield from _csv_rows(io.TextIOWrapper(reader, encoding="utf-8", newline=""), self.name)
            return
        yield from _jsonl_rows(self._chunks(blob), self.name)

    def fingerprint(self) -> str:
        return gcs_fingerprint(gcs_blob(self.target, self.ref.uri, self.name))


# -- BigQuery -----------------------------------------------------------------


class BigQueryRows(RowSource):
    """`bq://project.dataset.table` read page by page, or the result of a query."""

    def __init__(self, ref: SourceRef, target: Target | None):
        super().__init__(ref)
        self.target = target

    @property
    def table_id(self) -> str:
        return self.ref.uri.removeprefix("bq://")

    def _client(self):
        return _need(self.target, self.ref.uri, self.name).bigquery()

    def _table(self, client):
        if self.table_id.count(".") != 2:
            raise SpecError(
                f"not a BigQuery table: {self.ref.uri}",
                where=self.name,
                hint="write bq://PROJECT.DATASET.TABLE",
            )
        try:
            with google_errors(self.ref.uri, self.name):
                return client.get_table(self.table_id)
        except RemoteError as exc:
            if exc.status == 404:
                raise SpecError(
                    f"no such BigQuery table: {self.table_id}",
                    where=self.name,
                    hint="create it, or fix the project.dataset.table name",
                ) from None
            raise

    def columns(self) -> list[str] | None:
        if self.ref.kind == "query":
            return None
        return [field.name for field in self._table(self._client()).schema]

    def numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        client = self._client()
        with remote_failures("BigQuery read failed", where=self.name):
            if self.ref.kind == "query":
                rows = client.query(self.ref.uri, project=self.ref.project).result(page_size=BQ_PAGE)
            else:
                rows = client.list_rows(self._table(client), page_size=BQ_PAGE)
            json_columns = [f.name for f in rows.schema if f.field_type == "JSON"]
            n = 0
            for row in rows:
                n += 1
                record = dict(row.items())
                for column in json_columns:
                    value = record.get(column)
                    if isinstance(value, str):
                        record[column] = _decode_json(value, self.locate(n), column)
                yield n, record

    def locate(self, n: int) -> str:
        return f"{self.name}: row {n}"

    def fingerprint(self) -> str:
        if self.ref.kind == "query":
            text = f"{self.ref.project or ''}\n{self.ref.uri}".encode()
            return "query:" + hashlib.sha256(text).hexdigest()
        table = self._table(self._client())
        modified = table.modified.isoformat() if table.modified else ""
        return f"bq:{modified}:{table.num_rows}"


def _decode_json(value: str, where: str, column: str) -> Any:
    try:
        return parse_json_line(value)
    except BadJson:
        raise SpecError(f"column {column!r} is not valid JSON", where=where) from None


def _need(target: Target | None, uri: str, where: str) -> Target:
    if target is None:
        raise ConfigError(
            f"reading {uri} needs a Google Cloud target",
            where=where,
            hint="run it through claude-jobs (local stack or --project)",
        )
    return target


def open_rows(ref: SourceRef, target: Target | None) -> RowSource:
    """The rows of `ref`; nothing is read until the source is iterated."""
    if ref.kind == "file":
        if ref.format is None:
            raise SpecError(
                f"unsupported file type: {ref.uri}", where=ref.uri, hint="use a .jsonl or .csv file"
            )
        return FileRows(ref)
    if ref.kind == "gcs":
        if ref.format is None:
            raise SpecError(
                f"unsupported object type: {ref.uri}", where=ref.uri, hint="use a .jsonl or .csv object"
            )
        return GcsRows(ref, target)
    return BigQueryRows(ref, target)
