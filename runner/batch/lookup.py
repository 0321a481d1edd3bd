"""status, results, cancel and list for batch jobs: everything is found by its labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.batch.collect import JoinStats
from runner.batch.identity import REV_LABEL, SPEC_LABEL, revision_filter, spec_filter
from runner.batch.jobs import BatchJob, JobApi
from runner.batch.readback import JobFiles
from runner.batch.rounds import Rounds, merged_results
from runner.errors import StateError, UsageError
from runner.records import ResultRow


@dataclass
class SpecStatus:
    spec: str
    revision: str  # the spec's current revision label
    jobs: list[BatchJob] = field(default_factory=list)  # every revision's, newest first

    @property
    def current(self) -> list[BatchJob]:
        return [j for j in self.jobs if j.labels.get(REV_LABEL) == self.revision]

    @property
    def state(self) -> str:
        """never run | changed (only older revisions ran) | running | finished | failed."""
        current = self.current
        if not self.jobs:
            return "never run"
        if not current:
            return "changed"
        if any(not j.terminal for j in current):
            return "running"
        return "finished" if all(j.succeeded for j in current) else "failed"


def _revision(spec, target) -> str:
    from runner.render.revision import revision_label, spec_revision

    return revision_label(spec_revision(spec, target))


def _api(target, region: str | None = None) -> JobApi:
    return JobApi.for_target(target, region or target.region)


def batch_status(spec, target) -> SpecStatus:
    """The spec's jobs (all revisions), and whether the current revision has run."""
    jobs = _api(target).list(spec_filter(spec.name))
    jobs.sort(key=lambda j: j.create_time.timestamp() if j.create_time else 0, reverse=True)
    return SpecStatus(spec=spec.name, revision=_revision(spec, target), jobs=jobs)


def job_status(target, ref: str) -> BatchJob:
    """One job by resource name (`projects/…/batchPredictionJobs/ID`) or bare ID."""
    name, region = _job_name(target, ref)
    return _api(target, region).get(name)


def parse_job_ref(ref: str) -> tuple[str | None, str | None, str]:
    """`(resource name, region, ID)` of a job ref, or UsageError when it is not shaped like one.

    A bare ID has no name or region yet (the target supplies them), so this needs no
    target: the CLI calls it to refuse a bad ref before the local stack starts.
    """
    parts = ref.strip("/").split("/")
    if len(parts) == 6 and parts[0] == "projects" and parts[4] == "batchPredictionJobs":
        return ref.strip("/"), parts[3], parts[5]
    if ref.isdigit():
        return None, None, ref
    raise UsageError(
        f"not a spec file or a batch job: {ref!r}",
        where="SPEC|JOB",
        hint="pass a spec path, a job ID, or projects/P/locations/L/batchPredictionJobs/ID",
    )


def _job_name(target, ref: str) -> tuple[str, str]:
    name, region, job_id = parse_job_ref(ref)
    if name is not None and region is not None:
        return name, region
    return (
        f"projects/{target.project}/locations/{target.region}/batchPredictionJobs/{job_id}",
        target.region,
    )


def list_jobs(target) -> list[BatchJob]:
    """Every batch job this tool submitted (they carry the spec label), newest first."""
    jobs = [j for j in _api(target).list(f"labels.{SPEC_LABEL}:*") if SPEC_LABEL in j.labels]
    jobs.sort(key=lambda j: j.create_time.timestamp() if j.create_time else 0, reverse=True)
    return jobs


def iter_results(spec, target, stats: JoinStats | None = None) -> Iterator[ResultRow]:
    """The merged results of the current revision's finished jobs, one per custom_id."""
    rev = _revision(spec, target)
    api = _api(target)
    rounds = Rounds.of(api.list(revision_filter(spec.name, rev)))
    if not rounds.jobs:
        older = api.list(spec_filter(spec.name))
        hint = (
            f"the spec or its inputs changed since it last ran "
            f"({', '.join(sorted({j.labels.get(REV_LABEL, '?') for j in older}))}): "
            f"run it again with `claude-jobs run {spec.path}`"
            if older
            else f"run it first: claude-jobs run {spec.path}"
        )
        raise StateError(
            f"no batch jobs for the current revision ({rev}) of {spec.name}", where=str(spec.path), hint=hint
        )
    running = [j for j in rounds.all() if not j.terminal]
    if running:
        raise StateError(
            f"{len(running)} job(s) of {spec.name} still running ({', '.join(j.id for j in running)})",
            where=str(spec.path),
            hint=f"wait for them: claude-jobs run {spec.path}",
        )
    from runner.dataio.results import ResultShape

    return merged_results(JobFiles(target), rounds, stats or JoinStats(), ResultShape.of(spec))


def cancel(target, spec=None, job: str | None = None) -> list[BatchJob]:
    """Cancel the unfinished jobs of a spec (any revision), or one job; returns those cancelled."""
    if job is not None:
        name, region = _job_name(target, job)
        api = _api(target, region)
        found = [api.get(name)]
    else:
        api = _api(target)
        found = api.list(spec_filter(spec.name))
    cancelled = [j for j in found if not j.terminal]
    for j in cancelled:
        api.cancel(j.name)
    return cancelled
