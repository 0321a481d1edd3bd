"""Claims: across machines, one runner at a time creates a given job.

Two pipelines started at once on an unchanged spec would both list, find
nothing and both create. Before a create, a runner claims the job's display
name with a Cloud Storage object written only if absent
(`if_generation_match=0`, atomic in Cloud Storage); the loser waits for the
winner's job to appear and attaches to it. A claim whose runner died (older
than STALE_SECONDS, and still no job) is taken over with a generation-matched
write, so it cannot be taken twice either.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime

import orjson

STALE_SECONDS = 600.0


class GcsClaims:
    def __init__(self, storage, prefix_uri: str):
        from runner.dataio.sources import split_gs

        bucket, prefix = split_gs(prefix_uri.rstrip("/"))
        self.bucket = storage.bucket(bucket)
        self.prefix = prefix

    def _blob(self, display_name: str):
        return self.bucket.blob(f"{self.prefix}/claims/{display_name}")

    def take(self, display_name: str, ours: bool = False) -> bool:
        """True if this runner now holds the claim; False if a live runner holds it.

        `ours`: this machine's record says an earlier run of ours sent (or was
        about to send) this create, so an existing claim is our own, left by a crash.
        """
        from google.api_core import exceptions

        blob = self._blob(display_name)
        payload = orjson.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})
        try:
            blob.upload_from_string(payload, if_generation_match=0)
            return True
        except exceptions.PreconditionFailed:
            pass
        try:
            blob.reload()
        except exceptions.NotFound:
            return self.take(display_name, ours)  # released in between: try again
        born = blob.updated or blob.time_created
        stale = born is None or (datetime.now(UTC) - born).total_seconds() > STALE_SECONDS
        if not (ours or stale):
            return False
        try:
            blob.upload_from_string(payload, if_generation_match=blob.generation)
            return True
        except exceptions.PreconditionFailed:
            return False  # another runner took it over first

    def release(self, display_name: str) -> None:
        """Give the claim up (the create was refused), so the next attempt can take it."""
        from google.api_core import exceptions

        try:
            self._blob(display_name).delete()
        except exceptions.NotFound:
            pass


def claims_for(target, layout) -> GcsClaims | None:
    """Claims live next to the staged inputs (or outputs) when either is in Cloud Storage."""
    for prefix in (layout.input, layout.output):
        if prefix.startswith("gs://"):
            return GcsClaims(target.storage(), f"{prefix.rstrip('/')}/{layout.spec_name}/{layout.rev}")
    return None
