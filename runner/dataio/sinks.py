"""Result sinks: ResultRows to a local `.jsonl` file, `gs://` shard objects, or a `bq://` table.

Rows arrive in numbered *parts*. `put(part, rows)` makes the destination's
part hold exactly `rows`, and doing it again never duplicates anything:

- Cloud Storage: one object per part, `{prefix}/results-{part:08d}.jsonl`,
  created with `if_generation_match=0` and overwritten when it already exists
  (a re-put after a crash writes the same bytes; a rewrite fixes a stale part).
- BigQuery: the part is loaded into a staging table (WRITE_TRUNCATE) and
  MERGEd into the destination on custom_id, then the staging table dropped;
  every step can be repeated. Loads, not streaming inserts: insertIds only
  deduplicate best-effort, and loaded rows can be updated by DML at once.
- Local file: parts are appended; `recover(rows)` rewrites the whole file from
  the rows the caller knows are stored (the stream ledger), atomically, which
  is what makes a crash between a ledger commit and an append harmless.

`write_all(rows)` is the one-shot form (batch collection): the destination
ends up holding exactly `rows`, in parts of `part_rows`.

Every sink writes rows in the one shape of `runner.dataio.results.ResultShape`
(kept columns, the typed answer's fields or `text`, then diagnostics).
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import orjson

from runner.dataio.results import Column, ResultShape
from runner.errors import ConfigError, RemoteError, StateError, UsageError
from runner.records import ResultRow


class Sink:
    """Common shape; `part_rows`/`part_seconds` say how big parts should be for this destination."""

    destination: str
    part_rows = 1000
    part_seconds = 1.0
    shape: ResultShape = ResultShape()

    def _jsonl(self, rows: Iterable[ResultRow]) -> bytes:
        return self.shape.jsonl(rows)

    def put(self, part: int, rows: Sequence[ResultRow]) -> None:
        raise NotImplementedError

    def recover(
        self,
        stored: Callable[[], Iterable[ResultRow]],
        changed: Iterable[tuple[int, Sequence[ResultRow]]] = (),
    ) -> None:
        """Repair the destination after a crash or a re-sent row.

        `stored()` yields every row the caller's ledger says is stored; `changed`
        names the stored parts whose rows changed since they were put. Called
        before a run's first put and after its last one.
        """
        for part, rows in changed:
            self.put(part, rows)

    def reset(self) -> None:
        """Remove every result this tool stored at the destination (a restarted run)."""
        raise NotImplementedError

    def holds_data(self) -> bool:
        """Whether the destination holds anything `reset()` would remove."""
        raise NotImplementedError

    def stored(self) -> Iterator[dict]:
        """Every result the destination holds, as a dict."""
        raise NotImplementedError

    def write_all(self, rows: Iterable[ResultRow]) -> int:
        """Make the destination hold exactly `rows`; returns how many were written."""
        self.reset()
        count, part, it = 0, 0, iter(rows)
        while chunk := list(islice(it, self.part_rows)):
            part += 1
            self.put(part, chunk)
            count += len(chunk)
        return count

    def close(self) -> None:
        pass


class FileSink(Sink):
    part_rows = 500
    part_seconds = 0.5

    def __init__(self, path: Path, shown: str, where: str | None = None, shape: ResultShape | None = None):
        self.shape = shape or ResultShape()
        self.path = path
        self.destination = shown
        self.where = where
        self._check_writable()

    def _cannot_write(self, exc: OSError) -> ConfigError:
        # Name the destination, never the temp file a rebuild was writing.
        return ConfigError(
            f"cannot write {self.destination}: {exc.strerror or exc}",
            where=self.where,
            hint="pick a file path in a writable folder; re-run to write the results from the ledger",
        )

    def _check_writable(self) -> None:
        """Before the first request: the folder must take a new file, since rebuilds rename one in."""
        try:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of its folder") from None
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            fd, probe = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".probe", dir=self.path.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def put(self, part: int, rows: Sequence[ResultRow]) -> None:
        if not rows:
            return
        try:
            with open(self.path, "ab") as out:
                out.write(self._jsonl(rows))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def recover(self, stored, changed=()) -> None:
        """Rewrite the whole file from `stored()`: parts appended after a crash point vanish."""
        try:
            self._rebuild(stored)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def _rebuild(self, stored) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            batch: list[ResultRow] = []
            for row in stored():
                batch.append(row)
                if len(batch) >= 1000:
                    out.write(self._jsonl(batch))
                    batch.clear()
            out.write(self._jsonl(batch))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def reset(self) -> None:
        self.recover(lambda: ())

    def holds_data(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def stored(self) -> Iterator[dict]:
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    if line.strip():
                        yield orjson.loads(line)

    def write_all(self, rows: Iterable[ResultRow]) -> int:
        count = 0

        def counted():
            nonlocal count
            for row in rows:
                count += 1
                yield row

        self.recover(counted)
        return count


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GcsSink(Sink):
    part_rows = 5000
    part_seconds = 2.0

    def __init__(self, target, bucket: str, prefix: str, shown: str, shape: ResultShape | None = None):
        self.shape = shape or ResultShape()
        self.client = target.storage()
        self.bucket = self.client.bucket(bucket)
        self.prefix = prefix.strip("/")
        self.destination = shown

    @property
    def listing_prefix(self) -> str:
        return f"{self.prefix}/results-" if self.prefix else "results-"

    def object_name(self, part: int) -> str:
        return f"{self.listing_prefix}{part:08d}.jsonl"

    def put(self, part: int, rows: Sequence[ResultRow]) -> None:
        from google.api_core import exceptions

        blob = self.bucket.blob(self.object_name(part))
        try:
            if not rows:
                blob.delete()
                return
            data = self._jsonl(rows)
            try:
                blob.upload_from_string(data, content_type="application/x-ndjson", if_generation_match=0)
            except exceptions.PreconditionFailed:
                # Stored before a crash (same bytes) or stale after a re-sent row: the ledger wins.
                blob.upload_from_string(data, content_type="application/x-ndjson")
        except exceptions.NotFound:
            if rows:
                raise RemoteError(
                    f"bucket {self.bucket.name} does not exist",
                    where=self.destination,
                    status=404,
                    hint="create it (claude-jobs apply) or fix `destination`",
                ) from None
        except exceptions.GoogleAPICallError as exc:
            raise RemoteError(
                f"cannot write {self.object_name(part)}: {exc.message}",
                where=self.destination,
                status=exc.code,
            ) from None

    def reset(self) -> None:
        for blob in self.client.list_blobs(self.bucket, prefix=self.listing_prefix):
            if blob.name.endswith(".jsonl"):
                blob.delete()

    def holds_data(self) -> bool:
        from google.api_core import exceptions

        try:
            return any(
                blob.name.endswith(".jsonl")
                for blob in self.client.list_blobs(self.bucket, prefix=self.listing_prefix)
            )
        except exceptions.NotFound:
            return False  # no bucket: put() says so

    def stored(self) -> Iterator[dict]:
        for blob in self.client.list_blobs(self.bucket, prefix=self.listing_prefix):
            for line in blob.download_as_bytes().splitlines():
                if line.strip():
                    yield orjson.loads(line)


class BigQuerySink(Sink):
    part_rows = 10000
    part_seconds = 5.0

    def __init__(
        self, target, table_id: str, shown: str, location: str | None, shape: ResultShape | None = None
    ):
        self.shape = shape or ResultShape()
        self.client = target.bigquery()
        self.table_id = table_id
        self.destination = shown
        self._ensure_table(location)

    def _schema(self):
        return [_field(column) for column in self.shape.bq_schema()]

    def _ensure_table(self, location: str | None) -> None:
        from google.cloud import bigquery

        project, dataset, _ = self.table_id.split(".")
        ds = bigquery.Dataset(f"{project}.{dataset}")
        if location:
            ds.location = location
        self.client.create_dataset(ds, exists_ok=True)
        table = self.client.create_table(bigquery.Table(self.table_id, schema=self._schema()), exists_ok=True)
        self._missing = self._missing_columns(table)
        if self._missing and not self.holds_data():
            self._recreate()  # an empty table of an older shape: make it again

    def _missing_columns(self, table) -> list[str]:
        have = {f.name.lower() for f in table.schema}
        return [c.name for c in self.shape.bq_schema() if c.name.lower() not in have]

    def _recreate(self) -> None:
        from google.cloud import bigquery

        self.client.delete_table(self.table_id, not_found_ok=True)
        self.client.create_table(bigquery.Table(self.table_id, schema=self._schema()))
        self._missing = []

    def _check_shape(self) -> None:
        if self._missing:
            raise StateError(
                f"{self.destination} has no column(s) {', '.join(self._missing)} of this spec's results "
                "(it was made for another output shape)",
                where="$.destination",
                hint="pass --restart to replace the table, or choose a new destination",
            )

    def put(self, part: int, rows: Sequence[ResultRow]) -> None:
        from google.cloud import bigquery

        if not rows:
            return
        self._check_shape()
        stage = f"{self.table_id}__stage_{part:08d}"
        config = bigquery.LoadJobConfig(
            schema=self._schema(),
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        )
        # JSON columns as JSON values in NDJSON (a load, unlike insert_rows_json, takes them as
        # they are). No size=: forces a resumable upload, which the emulator accepts (local-emulators.md).
        self.client.load_table_from_file(io.BytesIO(self._jsonl(rows)), stage, job_config=config).result()
        columns = [f"`{c.name}`" for c in self.shape.bq_schema()]
        updates = ", ".join(f"{c} = s.{c}" for c in columns if c != "`custom_id`")
        self.client.query(
            f"MERGE `{self.table_id}` t USING `{stage}` s ON t.custom_id = s.custom_id "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
            f"VALUES ({', '.join('s.' + c for c in columns)})"
        ).result()
        self.client.delete_table(stage, not_found_ok=True)

    def merge_kept(self, input_tables: list[str]) -> None:
        """Fill the kept columns from the staged input tables (`kept__NAME` columns): one MERGE
        that BigQuery runs, so no kept value passes through the client."""
        keep = self.shape.keep
        if not keep or not input_tables:
            return
        prefix = "kept__"
        selects = " UNION ALL ".join(
            "SELECT custom_id, "
            + ", ".join(f"`{prefix}{name}` AS `{name}`" for name in keep)
            + f" FROM `{uri.removeprefix('bq://')}`"
            for uri in input_tables
        )
        updates = ", ".join(f"`{name}` = s.`{name}`" for name in keep)  # names may be SQL keywords
        self.client.query(
            f"MERGE `{self.table_id}` t USING ({selects}) s ON t.custom_id = s.custom_id "
            f"WHEN MATCHED THEN UPDATE SET {updates}"
        ).result()

    def reset(self) -> None:
        if self._missing:
            self._recreate()
            return
        self.client.query(f"DELETE FROM `{self.table_id}` WHERE TRUE").result()

    def holds_data(self) -> bool:
        # A query, not the table's num_rows: that omits rows still in the streaming buffer.
        found = self.client.query(f"SELECT 1 FROM `{self.table_id}` LIMIT 1").result()
        return any(True for _ in found)

    def stored(self) -> Iterator[dict]:
        for row in self.client.list_rows(self.table_id):
            yield dict(row.items())


def _field(column: Column):
    from google.cloud import bigquery

    return bigquery.SchemaField(
        column.name, column.kind, mode=column.mode, fields=[_field(f) for f in column.fields]
    )


def open_sink(destination: str, spec, target) -> Sink:
    """The sink for a spec's `destination`: `.jsonl` path (relative to the spec), gs:// or bq://."""
    from runner.dataio.results import ResultShape

    shape = ResultShape.of(spec) if getattr(spec, "output", None) is not None else ResultShape()
    if destination.startswith("gs://"):
        bucket, _, prefix = destination[5:].partition("/")
        if not bucket:
            raise UsageError(
                f"no bucket in {destination!r}", where="$.destination", hint="use gs://bucket/prefix"
            )
        return GcsSink(target, bucket, prefix, destination, shape)
    if destination.startswith("bq://"):
        parts = destination[5:].split(".")
        if len(parts) != 3 or not all(parts):
            raise UsageError(f"{destination!r} is not bq://project.dataset.table", where="$.destination")
        if shape.keep:
            from runner.dataio.results import kept_types

            shape.kept_types = kept_types(spec, target)
        return BigQuerySink(target, ".".join(parts), destination, getattr(spec, "region", None), shape)
    from runner.paths import shown

    where = f"{shown(spec.path)}: $.destination" if getattr(spec, "path", None) else "$.destination"
    return FileSink(spec.resolve_local(destination), destination, where, shape)


def read_destination(sink: Sink) -> Iterator[dict]:
    """Every stored result as a dict, for tests and `results` on a destination (not the ledger)."""
    return sink.stored()


def refuse_foreign_data(spec, sink) -> None:
    """A spec's first run replaces its destination: never when that would destroy someone else's data."""
    from runner.paths import shown

    if sink.holds_data():
        raise StateError(
            f"{sink.destination} already holds results this spec's runs did not write; nothing was sent",
            where=f"{shown(spec.path)}: $.destination",
            hint="choose a new destination, or pass --restart to replace it",
        )
