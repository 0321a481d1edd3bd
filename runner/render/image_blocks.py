"""Images named in a spec, read once each and turned into base64 content-block sources.

`{type: file, path}` (inside the repository), `{type: gcs, uri}` and
`{type: base64, ...}`; the media type comes from the extension unless given,
and must match the image's magic bytes. Reads are cached, bounded in bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from pathlib import Path
from typing import Any

from runner.clients import Target
from runner.errors import SpecError
from runner.image_headers import sniff_media_type
from runner.paths import shown
from runner.spec.image_checks import EXTENSIONS as MEDIA_TYPES
from runner.spec.image_checks import MAX_IMAGE_BYTES
from runner.spec.model import JobSpec

IMAGE_CACHE_BYTES = 64 << 20


class ImageFailure(Exception):
    """A row-independent description of what went wrong; the caller adds the row's location."""

    def __init__(self, where: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.where, self.message, self.hint = where, message, hint


def repo_root(start: Path) -> Path:
    """The nearest folder holding `.git` above `start`, else the current folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return Path.cwd().resolve()


class Images:
    """Reads `file`/`gcs` images once each (LRU bounded in bytes) into base64 sources."""

    def __init__(self, spec: JobSpec, target: Target | None, budget: int = IMAGE_CACHE_BYTES):
        self.base = spec.base_dir
        self.root = repo_root(spec.base_dir)
        self.target = target
        self.budget = budget
        self.templated = False  # set when a path or URI varies by row
        self._storage = None
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._bytes = 0

    def load(self, kind: str, ref: Any, media_type: Any, where: str) -> dict:
        if kind == "base64":
            return self._base64(ref, media_type, where)
        key = (kind, ref, media_type)
        source = self._cache.get(key)
        if source is not None:
            self._cache.move_to_end(key)
            return source
        raw, name = self.read(kind, ref, where)
        if len(raw) > MAX_IMAGE_BYTES:
            raise ImageFailure(
                where, f"image {ref} is {len(raw):,} bytes, over the 5 MB limit", "resize or recompress it"
            )
        media = _media_type(name, media_type, raw[:16], where)
        source = {"type": "base64", "media_type": media, "data": base64.b64encode(raw).decode("ascii")}
        self._cache[key] = source
        self._bytes += len(source["data"])
        while self._bytes > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= len(old["data"])
        return source

    def resolve(self, ref: Any, where: str) -> Path:
        if not isinstance(ref, str) or not ref:
            raise ImageFailure(where, f"image path must be a non-empty string, got {ref!r}")
        path = (self.base / ref).resolve()
        if not path.is_relative_to(self.root):
            raise ImageFailure(
                where,
                f"image {ref} is outside the repository ({self.root})",
                "keep images inside the repository, or use gs://",
            )
        return path

    def read(self, kind: str, ref: Any, where: str) -> tuple[bytes, str]:
        if kind == "file":
            path = self.resolve(ref, where)
            try:
                return path.read_bytes(), path.name
            except OSError as exc:
                raise ImageFailure(
                    where,
                    f"cannot read image {shown(path)}: {exc.strerror}",
                    "image paths are relative to the spec file's folder",
                ) from None
        from runner.dataio.sources import gcs_blob, google_errors

        if not isinstance(ref, str) or not ref.startswith("gs://"):
            raise ImageFailure(where, f"image URI must look like gs://bucket/object, got {ref!r}")
        try:
            if self._storage is None and self.target is not None:
                self._storage = self.target.storage()  # one client for every object
            blob = gcs_blob(self.target, ref, where, self._storage)
            with google_errors(ref, where):
                return blob.download_as_bytes(), ref
        except SpecError as exc:  # a missing object: the row that names it is added
            raise ImageFailure(where, exc.message, exc.hint) from None

    def _base64(self, data: Any, media_type: Any, where: str) -> dict:
        if not isinstance(data, str) or not data:
            raise ImageFailure(where, "base64 image data must be a non-empty string")
        try:
            head = base64.b64decode(data[:24])
        except (binascii.Error, ValueError):
            raise ImageFailure(where, "image data is not valid base64") from None
        media = media_type or sniff_media_type(head)
        return {"type": "base64", "media_type": _media_type(None, media, head, where), "data": data}


class ImageRefs(Images):
    """Records which images a render would read, without reading them (for the revision)."""

    def __init__(self, spec: JobSpec, target: Target | None):
        super().__init__(spec, target)
        self.refs: set[tuple[str, str]] = set()

    def load(self, kind: str, ref: Any, media_type: Any, where: str) -> dict:
        if kind == "file":
            self.refs.add(("file", str(self.resolve(ref, where))))
        elif kind == "gcs":
            self.refs.add(("gcs", str(ref)))
        return {"type": "base64", "media_type": media_type or "", "data": ""}


def _media_type(name: str | None, given: Any, head: bytes, where: str) -> str:
    allowed = sorted(set(MEDIA_TYPES.values()))
    media = given
    if media is None and name is not None:
        media = MEDIA_TYPES.get(Path(name).suffix.lower())
        if media is None:
            raise ImageFailure(
                where,
                f"cannot tell the media type of {name}",
                "use a .png, .jpg, .gif or .webp image, or set media_type",
            )
    if media not in allowed:
        raise ImageFailure(
            where, f"media type {media!r} is not supported", "use one of " + ", ".join(allowed)
        )
    actual = sniff_media_type(head)
    if actual != media:
        what = f"{name} is" if name else "the data is"
        said = f" (its bytes say {actual})" if actual else ""
        raise ImageFailure(where, f"{what} not {media}{said}", "fix the file, its extension, or media_type")
    return media
