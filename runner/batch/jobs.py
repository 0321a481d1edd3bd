"""A thin wrapper over `aiplatform_v1.JobServiceClient`: batch prediction jobs as plain records.

The wrapper only converts: protos to `BatchJob`, API exceptions to the project's
error tree. Every decision (when to submit, wait or give up) lives elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.errors import RemoteError, call_failed

TERMINAL = frozenset(
    {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED", "PAUSED"}
)  # PAUSED: final for us, as in Google's own sample loop
WAITING = frozenset({"QUEUED", "PENDING"})
SUCCESS = frozenset({"SUCCEEDED"})
ANTHROPIC_MODELS = "publishers/anthropic/models/"


class QuotaExhausted(RemoteError):
    """Vertex answered 429 on create: no free batch job slot; wait and retry."""


@dataclass(frozen=True)
class BatchJob:
    """What the runner needs to know about one batch prediction job."""

    name: str  # projects/P/locations/L/batchPredictionJobs/ID
    display_name: str
    model: str
    state: str  # SUCCEEDED, RUNNING, ... (without JOB_STATE_)
    labels: dict[str, str] = field(default_factory=dict)
    input_uris: tuple[str, ...] = ()  # gs://... objects or one bq://p.d.t
    output_dir: str | None = None  # gs:// directory Vertex wrote
    output_table: str | None = None  # bq://p.d.t Vertex wrote
    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    error: str | None = None
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCESS

    @property
    def is_claude(self) -> bool:
        return self.model.startswith(ANTHROPIC_MODELS)


def job_from_proto(job) -> BatchJob:
    state = job.state.name.removeprefix("JOB_STATE_") if job.state else "UNSPECIFIED"
    inputs: tuple[str, ...] = ()
    if job.input_config.gcs_source.uris:
        inputs = tuple(job.input_config.gcs_source.uris)
    elif job.input_config.bigquery_source.input_uri:
        inputs = (job.input_config.bigquery_source.input_uri,)
    info = job.output_info
    table = None
    if info.bigquery_output_table:
        dataset = info.bigquery_output_dataset.removeprefix("bq://")
        table = f"bq://{dataset}.{info.bigquery_output_table}"
    stats = job.completion_stats
    return BatchJob(
        name=job.name,
        display_name=job.display_name,
        model=job.model,
        state=state,
        labels=dict(job.labels),
        input_uris=inputs,
        output_dir=info.gcs_output_directory or None,
        output_table=table,
        successful=int(stats.successful_count or 0),
        failed=int(stats.failed_count or 0),
        incomplete=int(stats.incomplete_count or 0),
        error=(job.error.message or None) if job.error else None,
        create_time=_time(job.create_time),
        start_time=_time(job.start_time),
        end_time=_time(job.end_time),
        update_time=_time(job.update_time),
    )


def _time(value) -> datetime | None:
    # proto-plus gives DatetimeWithNanoseconds; an unset timestamp is the epoch.
    if value is None or not getattr(value, "year", 0) or value.year < 1971:
        return None
    return value


class JobApi:
    """Create, get, list and cancel batch prediction jobs in one project and region."""

    def __init__(self, client, project: str, region: str):
        self.client = client
        self.parent = f"projects/{project}/locations/{region}"

    @classmethod
    def for_target(cls, target, region: str) -> JobApi:
        return cls(target.job_service(region), target.project, region)

    def create(self, body: dict[str, Any]) -> BatchJob:
        """Submit one job; `body` holds BatchPredictionJob fields (snake_case)."""
        from google.cloud import aiplatform_v1

        job = self._call(
            "creating a batch prediction job",
            self.client.create_batch_prediction_job,
            parent=self.parent,
            batch_prediction_job=aiplatform_v1.BatchPredictionJob(body),
        )
        return job_from_proto(job)

    def get(self, name: str) -> BatchJob:
        return job_from_proto(
            self._call(f"reading job {name}", self.client.get_batch_prediction_job, name=name)
        )

    def list(self, filter: str = "") -> list[BatchJob]:
        """Every job matching `filter` (all pages)."""

        def every_page():
            pager = self.client.list_batch_prediction_jobs(
                request={"parent": self.parent, "filter": filter, "page_size": 100}
            )
            return [job_from_proto(job) for job in pager]

        return self._call("listing batch prediction jobs", every_page)

    def cancel(self, name: str) -> None:
        """Ask Vertex to cancel; a job that already ended is fine (nothing left to cancel)."""
        try:
            self._call(f"cancelling job {name}", self.client.cancel_batch_prediction_job, name=name)
        except RemoteError as exc:
            # Over REST a FAILED_PRECONDITION arrives as HTTP 400: ask the job, not the code.
            if exc.status not in (400, 409) or not self.get(name).terminal:
                raise

    @staticmethod
    def _call(doing: str, method, **kwargs):
        from google.api_core import exceptions

        try:
            return method(**kwargs)
        except exceptions.TooManyRequests as exc:
            raise QuotaExhausted(f"no free batch job slot: {exc.message}", status=429) from exc
        except exceptions.GoogleAPICallError as exc:
            raise _remote(doing, exc.message, exc.code) from exc
        except Exception as exc:
            # Transport failures (connection refused or reset, DNS, token refresh) are remote too.
            if call_failed(exc):
                raise _remote(doing, f"{type(exc).__name__}: {exc}", None) from exc
            raise


TRANSIENT = frozenset({None, 408, 429, 500, 502, 503, 504})


def transient(exc: RemoteError) -> bool:
    """A failure worth polling through: no answer, or an answer that says "try again"."""
    return exc.status in TRANSIENT


def _remote(doing: str, message: str, code) -> RemoteError:
    hint = None
    if code == 403:
        hint = "grant the caller roles/aiplatform.user on the project"
    elif code == 404:
        hint = "check the project and region; batch jobs live in one region"
    return RemoteError(f"Vertex AI refused {doing}: {message}", status=int(code) if code else None, hint=hint)
