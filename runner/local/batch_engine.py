"""Batch prediction jobs in simulated time: [QUEUED ->] PENDING -> RUNNING -> terminal.

A job created while its project has a free slot of the concurrent-jobs quota
is PENDING at once (as the batch predictions page shows); one created beyond
the quota waits in QUEUED until a slot frees.

Jobs are kept as their Vertex JSON (camelCase, string enums) plus a private
`sim` section, one file per job under `<state_dir>/batch_jobs/`, so they
survive a server restart. A ticker advances them; a RUNNING job is executed
in a worker thread (the official clients are synchronous), paced so that its
rows take the simulated time, and checks for cancellation between rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.local import batch_io

ACTIVE = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING")
TERMINAL = (
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
FAULT_LABEL = "local-fault"
MODEL_VERSION_ID = "1"  # as in the page's create and get replies
JOB_FAULTS = ("failed", "partially_succeeded", "expired", "stuck_pending")


@dataclass
class BatchKnobs:
    """`ServerConfig.batch`: simulated durations, quota and faults of batch jobs."""

    queued_seconds: float = 0.5  # before preparation starts (in PENDING if a slot was free at create)
    pending_seconds: float = 1.0  # "preparing to run"
    running_seconds: float = 2.0  # minimum RUNNING time of a job
    seconds_per_row: float = 0.0  # extra RUNNING time per row
    speed: float = 1.0  # divides every duration above
    max_concurrent_jobs: int = 4  # per project, as Vertex's default Claude batch quota
    quota_mode: str = "queue"  # "queue": wait in QUEUED for a slot; "reject": 429 on create
    row_failure_rate: float = 0.0  # fraction of rows answered with a Bad Request status
    fault: str = ""  # default job outcome fault, one of JOB_FAULTS
    seed: int = 0  # shifts which rows the row failures hit
    output_files: int = 1  # GCS output spread over this many *.jsonl files
    storage_url: str | None = None  # the emulators; set by `claude-jobs local up`
    bigquery_url: str | None = None
    project: str = "claude-jobs-local"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchKnobs:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data or {}) - known)
        if unknown:
            raise ConfigError(
                f"unknown batch key(s) {', '.join(unknown)}",
                where="config: batch",
                hint=f"valid keys: {', '.join(sorted(known))}",
            )
        knobs = cls(**(data or {}))
        for f in dataclasses.fields(cls):
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                try:
                    setattr(knobs, f.name, type(f.default)(getattr(knobs, f.name)))
                except (TypeError, ValueError):
                    raise ConfigError(f"{f.name} must be a number", where="config: batch") from None
        if knobs.quota_mode not in ("queue", "reject"):
            raise ConfigError("quota_mode must be 'queue' or 'reject'", where="config: batch")
        if knobs.fault and knobs.fault not in JOB_FAULTS:
            raise ConfigError(
                f"unknown batch fault {knobs.fault!r}",
                where="config: batch.fault",
                hint=f"one of {', '.join(JOB_FAULTS)}",
            )
        if not 0.0 <= knobs.row_failure_rate <= 1.0 or knobs.speed <= 0:
            raise ConfigError("row_failure_rate must be in 0..1 and speed > 0", where="config: batch")
        return knobs

    def seconds(self, value: float) -> float:
        return value / self.speed


def rfc3339(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_faults(job: dict, knobs: BatchKnobs) -> tuple[str, float]:
    """(job outcome fault, row failure rate) from the `local-fault` label, else the config.

    Label values (lowercase, as GCP labels must be): failed, partially-succeeded,
    expired, stuck-pending, row-failures-NN (NN percent of rows fail).
    """
    value = (job.get("labels") or {}).get(FAULT_LABEL, "")
    fault, rate = knobs.fault, knobs.row_failure_rate
    if value.startswith("row-failures-") and value[13:].isdigit():
        rate = min(int(value[13:]), 100) / 100
    elif value.replace("-", "_") in JOB_FAULTS:
        fault = value.replace("-", "_")
    if fault == "partially_succeeded" and rate == 0.0:
        rate = 0.3
    return fault, rate


class JobStore:
    """Jobs by id, each persisted as `<dir>/<id>.json` (atomic replace)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, dict] = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a torn file from a crash: the job is lost, like an unanswered create
            self.jobs[path.stem] = record

    def save(self, job_id: str) -> None:
        tmp = self.dir / f".{job_id}.tmp"
        tmp.write_text(json.dumps(self.jobs[job_id]))
        os.replace(tmp, self.dir / f"{job_id}.json")


class ServerStopping(Exception):
    """The server is shutting down mid-job: leave the job RUNNING so that it reruns at restart."""


class BatchQuotaExceeded(Exception):
    """A create beyond the concurrent-jobs quota in `reject` mode."""


class BatchEngine:
    def __init__(self, state_dir: Path, config_source):
        self.store = JobStore(Path(state_dir) / "batch_jobs")
        self._config_source = config_source  # () -> ServerConfig, read live (POST /_local/config)
        self._knobs_cache: tuple[int, BatchKnobs] | None = None
        self._lock = threading.Lock()
        self._workers: dict[str, asyncio.Task] = {}
        self._cancel: set[str] = set()
        self._shutdown = threading.Event()
        self._ticker: asyncio.Task | None = None

    @property
    def knobs(self) -> BatchKnobs:
        data = self._config_source().batch
        key = hash(json.dumps(data, sort_keys=True, default=str))
        if self._knobs_cache is None or self._knobs_cache[0] != key:
            try:
                knobs = BatchKnobs.from_dict(data)
            except ConfigError as exc:
                if self._knobs_cache is None:
                    raise ConfigError(str(exc), where="config: batch") from None
                # A bad POST /_local/config: say so once and keep the last good knobs.
                print(f"batch knobs refused, keeping the previous ones: {exc}", flush=True)
                knobs = self._knobs_cache[1]
            self._knobs_cache = (key, knobs)
        return self._knobs_cache[1]

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self.knobs  # noqa: B018 - refuse a bad config at startup, not at the first tick
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        self._shutdown.set()  # workers stop without a verdict: the jobs stay RUNNING and rerun
        for task in list(self._workers.values()):
            try:
                await asyncio.wait_for(task, timeout=5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:
                print(f"batch engine tick failed: {type(exc).__name__}: {exc}", flush=True)
            await asyncio.sleep(0.02)

    # -- API used by the routes -------------------------------------------------------

    def create(self, project: str, location: str, body: dict, model_id: str | None = None) -> dict:
        """A new job: PENDING when the project has a free slot and nothing queued before it, else
        QUEUED. `model_id` is the `name@version` a bare model name resolved to (the reply keeps
        the name as sent)."""
        knobs = self.knobs
        if (
            knobs.quota_mode == "reject"
            and self._active_count(project, queued=True) >= knobs.max_concurrent_jobs
        ):
            raise BatchQuotaExceeded(project)
        now = time.time()
        job_id = str(secrets.randbelow(9 * 10**18) + 10**18)
        job = {
            "name": f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}",
            "displayName": body["displayName"],
            "model": body["model"],
            "inputConfig": body["inputConfig"],
            "outputConfig": body["outputConfig"],
            "state": "JOB_STATE_QUEUED",
            "createTime": rfc3339(now),
            "updateTime": rfc3339(now),
            "modelVersionId": MODEL_VERSION_ID,
        }
        if body.get("labels"):
            job["labels"] = dict(body["labels"])
        if "modelParameters" in body:
            job["modelParameters"] = body["modelParameters"]
        sim: dict[str, Any] = {"project": project, "created": now}
        if model_id:
            sim["model_id"] = model_id
        with self._lock:
            if self._slot_free(project):
                # As the page shows: a job created with a free slot is PENDING at once.
                job["state"] = "JOB_STATE_PENDING"
                sim["pending_at"] = now
                sim["direct"] = True
            self.store.jobs[job_id] = {"job": job, "sim": sim}
            self.store.save(job_id)
        return dict(job)

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            record = self.store.jobs.get(job_id)
            return json.loads(json.dumps(record["job"])) if record else None

    def jobs(self, project: str, location: str) -> list[dict]:
        prefix = f"projects/{project}/locations/{location}/"
        with self._lock:
            found = [
                json.loads(json.dumps(r["job"]))
                for r in self.store.jobs.values()
                if r["job"]["name"].startswith(prefix)
            ]
        return sorted(found, key=lambda j: j["createTime"], reverse=True)

    def cancel(self, job_id: str) -> str | None:
        """None if cancelled (asynchronously), else the terminal state that prevents it."""
        with self._lock:
            job = self.store.jobs[job_id]["job"]
            if job["state"] in TERMINAL:
                return job["state"]
            if job["state"] != "JOB_STATE_CANCELLING":
                self._set_state(job_id, "JOB_STATE_CANCELLING")
            self._cancel.add(job_id)
        return None

    # -- the state machine ---------------------------------------------------------------

    def _slot_free(self, project: str) -> bool:
        """A slot of the concurrent-jobs quota is free and no QUEUED job of `project` waits for one."""
        return self._active_count(project) < self.knobs.max_concurrent_jobs and not any(
            r["sim"]["project"] == project and r["job"]["state"] == "JOB_STATE_QUEUED"
            for r in self.store.jobs.values()
        )

    def _active_count(self, project: str, queued: bool = False) -> int:
        """Jobs holding a quota slot; with `queued`, also those waiting for one."""
        states = ACTIVE + ("JOB_STATE_QUEUED",) if queued else ACTIVE
        return sum(
            1
            for r in self.store.jobs.values()
            if r["sim"]["project"] == project and r["job"]["state"] in states
        )

    def _set_state(self, job_id: str, state: str, **fields) -> None:
        job = self.store.jobs[job_id]["job"]
        now = time.time()
        job["state"] = state
        job["updateTime"] = rfc3339(now)
        if state == "JOB_STATE_RUNNING":
            job.setdefault("startTime", rfc3339(now))
        if state in TERMINAL:
            job["endTime"] = rfc3339(now)
        job.update(fields)
        self.store.save(job_id)

    def tick(self) -> None:
        knobs = self.knobs
        now = time.time()
        with self._lock:
            records = sorted(
                ((job_id, r) for job_id, r in self.store.jobs.items() if r["job"]["state"] not in TERMINAL),
                key=lambda item: item[1]["sim"]["created"],
            )
            for job_id, record in records:
                job, sim = record["job"], record["sim"]
                state = job["state"]
                if state in TERMINAL:
                    continue
                fault, _ = job_faults(job, knobs)
                if state == "JOB_STATE_CANCELLING" and job_id not in self._workers:
                    self._cancel.discard(job_id)
                    self._set_state(job_id, "JOB_STATE_CANCELLED")
                elif state == "JOB_STATE_QUEUED":
                    if (
                        now >= sim["created"] + knobs.seconds(knobs.queued_seconds)
                        and self._active_count(sim["project"]) < knobs.max_concurrent_jobs
                    ):
                        sim["pending_at"] = now
                        self._set_state(job_id, "JOB_STATE_PENDING")
                elif state == "JOB_STATE_PENDING":
                    # A job created PENDING also spends the queued time there.
                    waits = knobs.pending_seconds + (knobs.queued_seconds if sim.get("direct") else 0.0)
                    if fault != "stuck_pending" and now >= sim.get("pending_at", now) + knobs.seconds(waits):
                        sim["running_at"] = now
                        self._set_state(job_id, "JOB_STATE_RUNNING", outputInfo=self._output_info(job))
                        state = job["state"]
                if state == "JOB_STATE_RUNNING" and job_id not in self._workers:
                    # Also resumes a job whose server stopped mid-run: it runs again from the start.
                    sim.setdefault("running_at", now)
                    self._workers[job_id] = asyncio.get_running_loop().create_task(
                        self._run(job_id, json.loads(json.dumps(job)), dict(sim), knobs)
                    )

    def _output_info(self, job: dict) -> dict:
        output = job["outputConfig"]
        if "gcsDestination" in output:
            # As captured from Vertex: the create time with microseconds, e.g.
            # prediction-model-2025-09-19T21:26:51.569037Z.
            prefix = output["gcsDestination"]["outputUriPrefix"].rstrip("/")
            return {"gcsOutputDirectory": f"{prefix}/prediction-model-{job['createTime']}"}
        project, dataset, table = batch_io.parse_bq(
            output["bigqueryDestination"]["outputUri"], self.knobs.project
        )
        # As documented for BigQuery names: YYYY_MM_DDThh_mm_ss_sssZ.
        created = dt.datetime.strptime(job["createTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
        bq_stamp = created.strftime("%Y_%m_%dT%H_%M_%S_") + f"{created.microsecond // 1000:03d}Z"
        if dataset is None:
            dataset, table = f"prediction_model_{bq_stamp}", "predictions"
        return {
            "bigqueryOutputDataset": f"bq://{project}.{dataset}",
            "bigqueryOutputTable": table or f"predictions_{bq_stamp}",
        }

    async def _run(self, job_id: str, job: dict, sim: dict, knobs: BatchKnobs) -> None:
        try:
            outcome = await asyncio.to_thread(self._execute, job_id, job, sim, knobs)
        except ServerStopping:
            return
        except batch_io.JobInputError as exc:
            outcome = ("JOB_STATE_FAILED", {"error": {"code": exc.code, "message": str(exc)}})
        except Exception as exc:
            outcome = (
                "JOB_STATE_FAILED",
                {"error": {"code": 13, "message": f"Internal error: {type(exc).__name__}: {exc}"}},
            )
        with self._lock:
            self._workers.pop(job_id, None)
            cancelled = job_id in self._cancel
            self._cancel.discard(job_id)
            if job_id in self.store.jobs:
                state, fields = outcome
                if cancelled and state != "JOB_STATE_FAILED":
                    state = "JOB_STATE_CANCELLED"
                self._set_state(job_id, state, **fields)

    def _set_stats(self, job_id: str, ok: int, failed: int, incomplete: int) -> None:
        with self._lock:
            job = self.store.jobs[job_id]["job"]
            job["completionStats"] = {
                "successfulCount": str(ok),
                "failedCount": str(failed),
                "incompleteCount": str(incomplete),
            }
            job["updateTime"] = rfc3339(time.time())

    def _execute(self, job_id: str, job: dict, sim: dict, knobs: BatchKnobs) -> tuple[str, dict]:
        """Read, answer and write every row; returns (terminal state, extra job fields)."""
        from runner.clients import Target
        from runner.local.claude_sim import Simulator

        fault, row_rate = job_faults(job, knobs)
        location = job["name"].split("/")[3]
        target = Target(
            project=knobs.project, local=True, storage_url=knobs.storage_url, bigquery_url=knobs.bigquery_url
        )
        if not knobs.storage_url or not knobs.bigquery_url:
            raise batch_io.JobInputError(
                "the local server was started without emulator "
                "endpoints (batch.storage_url, batch.bigquery_url)",
                13,
            )
        source = job["inputConfig"]
        schema = None
        if "gcsSource" in source:
            rows = batch_io.read_gcs_rows(target, source["gcsSource"]["uris"])
        else:
            rows, schema = batch_io.read_bigquery_rows(target, source["bigquerySource"]["inputUri"], location)
        info = job["outputInfo"]
        if "bigqueryOutputDataset" in info:
            project, dataset = batch_io.parse_bq_dataset(info["bigqueryOutputDataset"], knobs.project)
            if dataset.startswith("prediction_model_"):
                from google.cloud import bigquery

                ds = bigquery.Dataset(f"{project}.{dataset}")
                ds.location = location
                target.bigquery().create_dataset(ds, exists_ok=True)
            batch_io.prepare_bigquery_output(target, project, dataset, info["bigqueryOutputTable"], location)
        else:
            batch_io.prepare_gcs_output(target, info["gcsOutputDirectory"])
        self._set_stats(job_id, 0, 0, len(rows))
        if fault == "failed":
            return "JOB_STATE_FAILED", {
                "error": {
                    "code": 13,
                    "message": (
                        "Internal error occurred while running the batch prediction job "
                        f"(simulated by the local stack: {FAULT_LABEL}=failed)."
                    ),
                }
            }
        stop_at = len(rows) // 2 if fault == "expired" else len(rows)
        simulator = Simulator.from_config(self._config_source())
        model = sim.get("model_id") or job["model"].rsplit("/", 1)[-1]
        duration = knobs.seconds(max(knobs.running_seconds, knobs.seconds_per_row * len(rows)))
        started = sim["running_at"]
        results: list[batch_io.RowResult] = []
        for index, row in enumerate(rows[:stop_at]):
            if self._shutdown.is_set():
                raise ServerStopping()
            if job_id in self._cancel:
                break
            fail = batch_io.injected_failure(index, row_rate, knobs.seed)
            results.append(batch_io.answer_row(row, model, fail, simulator))
            if index % 50 == 0 or index == stop_at - 1:
                ok = sum(r.ok for r in results)
                self._set_stats(job_id, ok, len(results) - ok, len(rows) - len(results))
            self._pace(job_id, started + duration * (index + 1) / max(len(rows), 1))
        if not rows:
            self._pace(job_id, started + duration)
        if self._shutdown.is_set():
            raise ServerStopping()
        ok = sum(r.ok for r in results)
        self._set_stats(job_id, ok, len(results) - ok, len(rows) - len(results))
        if "gcsOutputDirectory" in info:
            batch_io.write_gcs(target, info["gcsOutputDirectory"], results, knobs.output_files)
        else:
            project, dataset = batch_io.parse_bq_dataset(info["bigqueryOutputDataset"], knobs.project)
            batch_io.write_bigquery(target, project, dataset, info["bigqueryOutputTable"], schema, results)
        if fault == "expired":
            return "JOB_STATE_EXPIRED", {
                "error": {
                    "code": 4,
                    "message": (
                        f"The batch prediction job expired before it finished: {len(rows) - len(results)} "
                        f"of {len(rows)} requests were not processed (simulated by the local stack)."
                    ),
                }
            }
        if fault == "partially_succeeded":
            return "JOB_STATE_PARTIALLY_SUCCEEDED", {}
        return "JOB_STATE_SUCCEEDED", {}

    def _pace(self, job_id: str, until: float) -> None:
        """Sleep until the simulated time of this row; tiny gaps are not worth a sleep."""
        while job_id not in self._cancel and not self._shutdown.is_set() and until - time.time() > 0.005:
            time.sleep(min(0.05, until - time.time()))
