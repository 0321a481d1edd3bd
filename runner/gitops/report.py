"""`claude-jobs report`: a self-contained HTML page per spec from the results `results` reads.

`build_report(spec, target)` streams the spec's result rows (the stream ledger, or the batch
jobs' joined outputs) once through `ReportStats`, asks the plan for its estimate, and reads
the spec's jobs; `write_reports` renders one page per spec (plus an index for several).
Memory is bounded by what a page shows, not by the number of rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.clients import Target
from runner.errors import ClaudeJobsError, StateError, UsageError
from runner.gitops.plan import PlanOptions, SpecPlan, plan_spec
from runner.gitops.report_stats import ReportStats
from runner.paths import shown
from runner.spec.model import JobSpec

CONSOLE = (
    "https://console.cloud.google.com/vertex-ai/locations/{region}/batch-predictions/{id}?project={project}"
)


@dataclass
class JobLine:
    """A batch job (or the stream ledger) as the report lists it."""

    name: str
    state: str
    rows: str  # "120 succeeded, 3 failed"
    created: str = ""
    link: str | None = None  # the Vertex console, for jobs on a real project


@dataclass
class SpecReport:
    spec: JobSpec
    target: str
    stats: ReportStats
    plan: SpecPlan | None = None
    jobs: list[JobLine] = field(default_factory=list)
    revision: str | None = None  # the spec's current revision
    ran_revision: str | None = None  # the revision the results come from, when known and different
    cost_usd: float | None = None  # actual, from the usage and the catalog's prices
    notes: list[str] = field(default_factory=list)  # why something is missing
    generated: str = ""

    @property
    def expected(self) -> int | None:
        return self.plan.requests if self.plan else None

    @property
    def not_run(self) -> int:
        """Rows the spec renders that have no result yet."""
        return max(0, (self.expected or 0) - self.stats.total)

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return output_schema(self.spec)


def output_schema(spec: JobSpec) -> dict[str, Any] | None:
    """The JSON Schema of one answer (the spec's `output.schema`), when the spec has one."""
    return spec.output.schema


def build_report(
    spec: JobSpec,
    target: Target,
    *,
    region: str | None = None,
    estimate: bool = True,
    state: str | None = None,
) -> SpecReport:
    """Read the spec's results, jobs and plan estimate; nothing is sent to Claude.

    `region` (--region) overrides the spec's, as for `run`; `state` (--state, a Cloud Storage
    state location) is where stream ledgers are read from, as for `results`.
    """
    target = dataclasses.replace(target, region=region or spec.region)
    report = SpecReport(
        spec=spec,
        target=target.description,
        stats=ReportStats(output_schema(spec)),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    if estimate:
        try:
            report.plan = asyncio.run(plan_spec(spec, target, PlanOptions(region=region, state=state)))
            report.revision = report.plan.revision
        except ClaudeJobsError as exc:
            report.notes.append(f"no plan estimate: {exc}")
    if spec.mode == "stream":
        _stream_rows(spec, target, report, state)
    else:
        _batch_rows(spec, target, report)
    report.cost_usd = _cost(spec, report.stats)
    return report


def _stream_rows(spec: JobSpec, target: Target, report: SpecReport, state: str | None) -> None:
    from runner.render.revision import revision_label
    from runner.stream import iter_results, stream_status

    status = stream_status(spec, target, state=state)  # a shared state location is read first
    ran = status.get("revision")
    if ran:
        label = revision_label(ran)
        if label != report.revision:
            report.ran_revision = label
        report.jobs.append(
            JobLine(
                name=f"stream ledger {shown(Path(status['ledger']))}",
                state=status["state"],
                rows=f"{status['succeeded']:,} succeeded, {status['errored']:,} errored",
                created=status.get("started") or "",
            )
        )
    else:
        report.notes.append(f"no results yet: run it first with `claude-jobs run {shown(spec.path)}`")
    report.stats.add_all(iter_results(spec, target.project))


def _batch_rows(spec: JobSpec, target: Target, report: SpecReport) -> None:
    from runner.batch.lookup import batch_status, iter_results

    status = batch_status(spec, target)
    report.revision = report.revision or status.revision
    jobs = status.current or status.jobs
    if jobs and not status.current:
        report.notes.append(
            f"the spec or its inputs changed since its jobs ran: `claude-jobs run {shown(spec.path)}` "
            "runs the new revision"
        )
    report.jobs.extend(job_line(job, target) for job in jobs)
    try:
        report.stats.add_all(iter_results(spec, target))
    except StateError as exc:
        report.notes.append(f"no results: {exc}")


def job_line(job, target: Target) -> JobLine:
    """A batch job as the page lists it; on a real project, linked to its Vertex console page."""
    parts = job.name.split("/")  # projects/P/locations/L/batchPredictionJobs/ID
    region = parts[3] if len(parts) == 6 else target.region
    project = parts[1] if len(parts) == 6 else target.project
    return JobLine(
        name=job.display_name or job.id,
        state=job.state,
        rows=f"{job.successful:,} succeeded, {job.failed:,} failed"
        + (f", {job.incomplete:,} incomplete" if job.incomplete else ""),
        created=job.create_time.strftime("%Y-%m-%d %H:%M UTC") if job.create_time else "",
        link=None if target.local else CONSOLE.format(region=region, id=job.id, project=project),
    )


def _cost(spec: JobSpec, stats: ReportStats) -> float | None:
    from runner.spec.catalog import catalog

    info = catalog().get(spec.model)
    if info is None:
        return None
    return info.cost_usd(
        stats.input_tokens,
        stats.output_tokens,
        cache_write_tokens=stats.cache_write_tokens,
        cache_read_tokens=stats.cache_read_tokens,
        batch=spec.mode == "batch",
    )


# -- writing pages ---------------------------------------------------------------


def output_paths(specs: list[JobSpec], output: str | None) -> tuple[dict[str, Path], Path | None]:
    """Where each spec's page goes, and the index (several specs); refuses a clash up front.

    One spec and an `.html` output: that file. Otherwise `output` is a folder holding
    `<spec name>.html` per spec and `index.html`.
    """
    if len(specs) == 1 and (output is None or output.lower().endswith((".html", ".htm"))):
        return {specs[0].name: Path(output or "report.html")}, None
    if output is not None and output.lower().endswith((".html", ".htm")):
        raise UsageError(
            f"{len(specs)} specs give one page each and an index, not one file",
            where="--output",
            hint="pass a folder, e.g. --output report/",
        )
    folder = Path(output or "report")
    return {spec.name: folder / f"{spec.name}.html" for spec in specs}, folder / "index.html"


def write_reports(
    specs: list[JobSpec],
    target: Target,
    output: str | None,
    *,
    region: str | None = None,
    estimate: bool = True,
    state: str | None = None,
    on_page: Callable[[SpecReport, Path], None] | None = None,
) -> Path:
    """Write every spec's page (and the index); returns the path to open first."""
    from runner.gitops.report_page import render_index, render_page

    pages, index = output_paths(specs, output)
    summaries = []
    for spec in specs:
        report = build_report(spec, target, region=region, estimate=estimate, state=state)
        path = pages[spec.name]
        _write(path, render_page(report, index=index.name if index else None))
        summaries.append((report, path))
        if on_page:
            on_page(report, path)
    if index is None:
        return pages[specs[0].name]
    _write(index, render_index([(r, p.name) for r, p in summaries], target.description))
    return index


def _write(path: Path, text: str) -> None:
    from runner.errors import ConfigError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report: {exc.strerror or exc}",
            where=f"--output {shown(path)}",
            hint="pass a writable path",
        ) from exc
