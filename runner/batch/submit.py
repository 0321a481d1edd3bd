"""Idempotent submission: one Vertex batch job per (spec, revision, retry round, part).

Before a create, the job is looked for by display name and labels; a local
record covers the window where a create reached Vertex but the run died before
it could note the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runner.batch.identity import PARTS_LABEL, REV_LABEL, SPEC_LABEL, JobKey, display_name_filter, user_labels
from runner.batch.jobs import ANTHROPIC_MODELS, BatchJob, JobApi
from runner.batch.record import SubmissionRecord
from runner.batch.staging import Layout, StagedPart
from runner.errors import RemoteError, StateError

ROWS_LABEL = "claude-jobs-rows"
INTENT_WINDOW = 600.0  # seconds: a create older than this without a job never landed
RELIST_DELAYS = (1.0, 3.0)  # waits for a just-created job to become visible to list
CLAIM_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # for another runner's create to show


def model_name(model: str) -> str:
    return model if model.startswith("publishers/") else f"{ANTHROPIC_MODELS}{model}"


def job_body(spec, layout: Layout, part: StagedPart, rev: str) -> dict[str, Any]:
    """BatchPredictionJob fields (snake_case, as the proto-plus message takes them)."""
    key = part.key
    labels = {**user_labels(spec.labels), **key.labels(spec.name, rev), ROWS_LABEL: str(part.count)}
    if part.input_uris[0].startswith("gs://"):
        input_config = {"instances_format": "jsonl", "gcs_source": {"uris": list(part.input_uris)}}
    else:
        input_config = {"instances_format": "bigquery", "bigquery_source": {"input_uri": part.input_uris[0]}}
    out = layout.output_uri(key)
    if out.startswith("gs://"):
        output_config = {"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": out}}
    else:
        output_config = {"predictions_format": "bigquery", "bigquery_destination": {"output_uri": out}}
    return {
        "display_name": key.display_name(spec.name, rev),
        "model": model_name(spec.model),
        "labels": labels,
        "input_config": input_config,
        "output_config": output_config,
    }


def belongs(job: BatchJob, spec_name: str, rev: str, key: JobKey) -> bool:
    return (
        job.labels.get(SPEC_LABEL) == spec_name
        and job.labels.get(REV_LABEL) == rev
        and JobKey.from_labels(job.labels) == key
    )


class Submitter:
    """Attach to the job of a key if it exists, else create it exactly once."""

    def __init__(
        self,
        api: JobApi,
        record: SubmissionRecord,
        spec_name: str,
        rev: str,
        sleep: Callable[[float], None] = time.sleep,
        claims=None,
    ):
        self.api = api
        self.record = record
        self.claims = claims
        self.spec_name = spec_name
        self.rev = rev
        self.sleep = sleep
        self.created: list[str] = []

    def find(self, key: JobKey) -> BatchJob | None:
        display_name = key.display_name(self.spec_name, self.rev)
        known = self.record.job(display_name)
        if known:
            return self.api.get(known)
        found = [
            j
            for j in self.api.list(display_name_filter(display_name))
            if belongs(j, self.spec_name, self.rev, key)
        ]
        return max(found, key=lambda j: j.create_time or 0) if found else None

    def submit(self, body: dict[str, Any], key: JobKey) -> BatchJob:
        """The existing job for `key`, or a new one from `body`."""
        display_name = body["display_name"]
        job = self.find(key)
        age = self.record.intent_age(display_name)
        if job is None and age is not None and age < INTENT_WINDOW:
            # The last run sent a create and died before the answer: give the job time to show.
            for delay in RELIST_DELAYS:
                self.sleep(delay)
                job = self.find(key)
                if job is not None:
                    break
        if job is None:
            self.record.sending(display_name)  # before the claim: a crash after it is ours
            if self.claims is not None and not self.claims.take(display_name, ours=age is not None):
                job = self._await_other_runner(key, display_name)
        if job is not None:
            self.record.sent(display_name, job.name)
            return job
        try:
            job = self.api.create(body)  # QuotaExhausted propagates: the queue waits and retries
        except RemoteError:
            self.record.forget(display_name)  # Vertex answered "no": nothing was created
            if self.claims is not None:
                self.claims.release(display_name)
            raise
        self.record.sent(display_name, job.name)
        self.created.append(job.name)
        return job

    def _await_other_runner(self, key: JobKey, display_name: str) -> BatchJob | None:
        """Another runner claimed this create: attach to its job, or take over if it gives up."""
        for delay in CLAIM_WAITS:
            self.sleep(delay)
            job = self.find(key)
            if job is not None:
                return job
            if self.claims.take(display_name):
                return None  # released or stale: this runner creates it
        raise StateError(
            f"another claude-jobs run is submitting {display_name} and its job has not appeared",
            where=display_name,
            hint="re-run in a few minutes; a claim left by a runner that died expires after 10 minutes",
        )


def parts_of(jobs: list[BatchJob]) -> int | None:
    """How many parts the first round was split into, from any of its jobs' labels."""
    for job in jobs:
        try:
            return int(job.labels[PARTS_LABEL])
        except (KeyError, ValueError):
            continue
    return None
