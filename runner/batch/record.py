"""A local note of submissions, to close the crash window between `create` and the next `list`.

The source of truth is Vertex itself (jobs are found by labels and display
name); this note only remembers "a create was sent for this display name" and
the job it returned, so a run that crashed mid-create waits for the job to
appear instead of submitting a second one.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from runner.paths import private_folder, state_dir, write_private


class SubmissionRecord:
    def __init__(self, spec_name: str, rev: str, root: Path | None = None):
        self.path = (root or state_dir()) / "batch" / spec_name / f"{rev}.json"
        self._data: dict | None = None

    def _load(self) -> dict:
        if self._data is None:
            try:
                self._data = orjson.loads(self.path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                self._data = {}
            self._data.setdefault("submissions", {})
        return self._data

    def _save(self) -> None:
        private_folder(self.path.parent)
        write_private(self.path, orjson.dumps(self._load(), option=orjson.OPT_INDENT_2))

    def job(self, display_name: str) -> str | None:
        return (self._load()["submissions"].get(display_name) or {}).get("job")

    def intent_age(self, display_name: str) -> float | None:
        """Seconds since a create was sent for `display_name` without a recorded answer."""
        entry = self._load()["submissions"].get(display_name)
        if not entry or entry.get("job"):
            return None
        return time.time() - float(entry.get("sent_at", 0))

    def sending(self, display_name: str) -> None:
        self._load()["submissions"][display_name] = {"sent_at": time.time(), "job": None}
        self._save()

    def sent(self, display_name: str, job_name: str) -> None:
        self._load()["submissions"][display_name] = {"sent_at": time.time(), "job": job_name}
        self._save()

    def forget(self, display_name: str) -> None:
        self._load()["submissions"].pop(display_name, None)
        self._save()
