"""The state location: a folder (default `.claude-jobs/`) or a Cloud Storage prefix.

Both stores offer the same few atomic operations on small named objects, which is
all that locks, claims and the stream ledger's flushes need:

- `create(key, data)`: write only if absent (Cloud Storage: `ifGenerationMatch=0`;
  a folder: the bytes go to a temporary file that is hard-linked into place, which
  fails if the name exists, so a reader never sees half an object);
- `read(key)`: the bytes and their generation, or None;
- `replace(key, data, generation)`: write only if the object is still at `generation`
  (a folder: compare and rename under an exclusive `flock` of the state folder);
- `delete(key, generation=None)`, `list(prefix)`.

A generation is opaque: an int on Cloud Storage, inode and mtime for a file.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, RemoteError, UsageError
from runner.paths import PRIVATE_FILE as FILE_MODE
from runner.paths import private_folder


class StateStore:
    uri: str
    remote: bool = False

    def create(self, key: str, data: bytes) -> Any:
        """The new object's generation, or None if `key` exists."""
        raise NotImplementedError

    def read(self, key: str) -> tuple[bytes, Any] | None:
        raise NotImplementedError

    def replace(self, key: str, data: bytes, generation: Any) -> Any:
        """The new generation, or None if the object is no longer at `generation`."""
        raise NotImplementedError

    def delete(self, key: str, generation: Any = None) -> bool:
        raise NotImplementedError

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix`, in name order."""
        raise NotImplementedError

    def where(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"


class LocalStore(StateStore):
    """A state folder on this machine."""

    remote = False

    def __init__(self, root: Path):
        self.root = root
        self.uri = str(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def _mkdirs(self, folder: Path) -> None:
        try:
            private_folder(folder)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the state folder {folder}: {exc.strerror or exc}",
                where="CLAUDE_JOBS_HOME",
                hint="point CLAUDE_JOBS_HOME (or --state) at a writable folder",
            ) from None

    @contextmanager
    def _locked(self):
        self._mkdirs(self.root)
        fd = os.open(self.root / ".state.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the flock

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        self._mkdirs(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    @staticmethod
    def _generation(path: Path) -> str:
        st = path.stat()
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    def create(self, key: str, data: bytes) -> Any:
        path = self._path(key)
        tmp = self._write_tmp(path, data)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        return self._generation(path)

    def read(self, key: str) -> tuple[bytes, Any] | None:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                generation = f"{os.fstat(f.fileno()).st_ino}:{os.fstat(f.fileno()).st_mtime_ns}"
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data, f"{generation}:{len(data)}"

    def replace(self, key: str, data: bytes, generation: Any) -> Any:
        path = self._path(key)
        with self._locked():
            try:
                if self._generation(path) != generation:
                    return None
            except FileNotFoundError:
                return None
            tmp = self._write_tmp(path, data)
            os.replace(tmp, path)
            return self._generation(path)

    def delete(self, key: str, generation: Any = None) -> bool:
        path = self._path(key)
        with self._locked():
            try:
                if generation is not None and self._generation(path) != generation:
                    return False
                path.unlink()
                return True
            except FileNotFoundError:
                return False

    def list(self, prefix: str) -> Iterator[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return iter(())
        return iter(
            sorted(
                p.relative_to(self.root).as_posix()
                for p in folder.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
        )


class GcsStore(StateStore):
    """A Cloud Storage prefix, reached with the target's official storage client."""

    remote = True

    def __init__(self, uri: str, client, bucket: str, prefix: str):
        self.uri = uri.rstrip("/")
        self.client = client
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _calls(self, key: str):
        from google.api_core import exceptions

        try:
            yield
        except exceptions.NotFound as exc:
            raise ConfigError(
                f"state bucket {self.bucket.name} does not exist ({exc.message})",
                where="CLAUDE_JOBS_STATE",
                hint="create it (the Pulumi stack's stateUri output names one) or fix --state",
            ) from None
        except exceptions.GoogleAPICallError as exc:
            raise RemoteError(
                f"cannot reach the state location: {exc.message}", where=self.where(key), status=exc.code
            ) from None

    def create(self, key: str, data: bytes) -> Any:
        return self.replace(key, data, 0)

    def read(self, key: str) -> tuple[bytes, Any] | None:
        from google.api_core import exceptions

        for _ in range(5):
            with self._calls(key):
                blob = self.bucket.get_blob(self._name(key))
                if blob is None:
                    return None
                try:
                    return blob.download_as_bytes(if_generation_match=blob.generation), blob.generation
                except exceptions.NotFound:
                    return None
                except exceptions.PreconditionFailed:
                    continue  # replaced between the two calls: read again
        raise RemoteError("the state object keeps changing while read", where=self.where(key))

    def replace(self, key: str, data: bytes, generation: Any) -> Any:
        from google.api_core import exceptions

        blob = self.bucket.blob(self._name(key))
        with self._calls(key):
            try:
                blob.upload_from_string(data, if_generation_match=generation)
            except exceptions.PreconditionFailed:
                return None
        return blob.generation

    def delete(self, key: str, generation: Any = None) -> bool:
        from google.api_core import exceptions

        with self._calls(key):
            try:
                if generation is not None:
                    # fake-gcs-server ignores ifGenerationMatch on DELETE (Cloud Storage enforces
                    # it): look first, so the local stack refuses a stale delete too.
                    current = self.bucket.get_blob(self._name(key))
                    if current is None or current.generation != generation:
                        return False
                self.bucket.blob(self._name(key)).delete(if_generation_match=generation)
                return True
            except (exceptions.NotFound, exceptions.PreconditionFailed):
                return False

    def list(self, prefix: str) -> Iterator[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        with self._calls(prefix):
            names = [b.name[start:] for b in self.client.list_blobs(self.bucket, prefix=self._name(prefix))]
        return iter(sorted(names))


def state_uri(flag: str | None = None) -> str | None:
    """`--state`, else `CLAUDE_JOBS_STATE`, else None (the local state folder, `CLAUDE_JOBS_HOME`)."""
    value = flag if flag is not None else os.environ.get("CLAUDE_JOBS_STATE")
    if value is None or (flag is None and value == ""):
        return None
    where = "--state" if flag is not None else "CLAUDE_JOBS_STATE"
    value = value.strip()
    bucket = value[5:].split("/", 1)[0] if value.startswith("gs://") else ""
    if not bucket or any(ch.isspace() for ch in value):
        raise UsageError(
            f"{value!r} is not a state location",
            where=where,
            hint="use gs://BUCKET/PREFIX (the Pulumi stack's stateUri output); "
            "a local state folder is set with CLAUDE_JOBS_HOME",
        )
    return value.rstrip("/")


def open_state(uri: str | None, target) -> StateStore:
    """The store at `uri` (see `state_uri`), reached through `target`'s storage client;
    None: the local state folder."""
    from runner.paths import state_dir

    if uri is None:
        return LocalStore(state_dir())
    bucket, _, prefix = uri[5:].partition("/")
    return GcsStore(uri, target.storage(), bucket, prefix)
