"""A spec's revision: a hash of its text and of every input it reads.

Jobs and ledgers carry it (as `revision_label`) so an unchanged spec over
unchanged inputs is recognised, and a change to either is noticed.

What counts as an input:
- the template or prepared source: a local file's sha256, a Cloud Storage
  object's generation and md5/crc32c, a BigQuery table's last modification
  and row count, a query's text;
- image files and objects. Static paths are fingerprinted directly. For
  templated paths the source rows are rendered (images are not read) to find
  the exact set of files a render would read, and each is fingerprinted: a
  changed screenshot changes the revision even though no row changed. This
  costs one pass over the source, only for specs with templated image paths.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from runner.clients import Target
from runner.spec.model import JobSpec

_VERSION = b"claude-jobs-revision-1\n"


def spec_revision(spec: JobSpec, target: Target | None = None) -> str:
    """sha256 hex over the spec text and the fingerprints of its inputs (needs `target` for gs:// and bq://)."""
    digest = hashlib.sha256(_VERSION)
    digest.update(spec.text.encode())
    for line in input_fingerprints(spec, target):
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def revision_label(rev: str) -> str:
    """The first 16 hex characters: fits a GCP label value (lowercase, digits)."""
    return rev[:16].lower()


def input_fingerprints(spec: JobSpec, target: Target | None = None) -> list[str]:
    """`kind uri fingerprint` lines, one per input, in a stable order."""
    from runner.dataio.sources import file_sha256, gcs_blob, gcs_fingerprint, open_rows
    from runner.render.image_blocks import repo_root
    from runner.render.requests import referenced_images

    lines = []
    source = spec.template.source if spec.template else spec.prepared
    if source is not None:
        lines.append(f"source {source.kind} {source.uri} {open_rows(source, target).fingerprint()}")
    for kind, ref in referenced_images(spec, target):
        if kind == "file":
            # Relative to the repository, so every checkout computes the same revision.
            shown = Path(ref).relative_to(repo_root(spec.base_dir)).as_posix()
            lines.append(f"image file {shown} sha256:{file_sha256(ref)}")
        else:
            lines.append(f"image gcs {ref} {gcs_fingerprint(gcs_blob(target, ref, ref))}")
    return lines
