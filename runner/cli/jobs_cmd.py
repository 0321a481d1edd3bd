"""`claude-jobs status`, `results`, `cancel` and `list`: look at what a spec has run."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.cli._common import format_option, opened_target, project_options, state_option


def _is_spec(ref: str | None) -> bool:
    """A spec path (even a wrong one: `_load` then says what is wrong before any target starts),
    as opposed to a batch job ID or resource name."""
    if not ref:
        return False
    path = Path(ref)
    return path.suffix.lower() in (".yaml", ".yml") or path.is_file() or path.is_dir()


def _check_job_ref(ref: str) -> None:
    """A ref that is neither a spec nor shaped like a job is refused before any target starts."""
    from runner.batch.lookup import parse_job_ref

    parse_job_ref(ref)


def _target(project, region, local, spec=None):
    return opened_target(project, region or (spec.region if spec else None), local)


def _load(ref: str):
    from runner.spec import load_spec

    return load_spec(ref)


def _echo_json(data) -> None:
    import orjson

    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def _job_dict(job) -> dict:
    return {
        "name": job.name,
        "display_name": job.display_name,
        "state": job.state,
        "labels": job.labels,
        "successful": job.successful,
        "failed": job.failed,
        "incomplete": job.incomplete,
        "error": job.error,
        "create_time": job.create_time.isoformat() if job.create_time else None,
    }


def _print_jobs(jobs, title: str | None = None) -> None:
    from rich.console import Console

    from runner.batch.wait_display import job_table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # logs and pipes: keep each job on one line
    console.print(job_table(jobs, title=title))


@click.command()
@click.argument("ref", metavar="[SPEC|JOB]", required=False)
@project_options
@format_option("text", "json")
@state_option
def status(ref, project, region, local, output_format, state):
    """Show a spec's runs (batch jobs or stream ledger), one batch job, or all unfinished jobs.

    SPEC is a spec file; JOB a batch job ID or its full resource name. With
    neither, every unfinished batch job this tool submitted is shown.
    """
    spec = _load(ref) if _is_spec(ref) else None
    if ref and spec is None:
        _check_job_ref(ref)
    if spec is not None and spec.mode == "stream":
        from runner.stream import ledger_project, stream_status

        _sync_stream_state(spec, project, region, local, state)
        data = stream_status(spec, project=ledger_project(project, local))
        if output_format == "json":
            _echo_json(data)
        else:
            click.echo(f"{spec.name} (stream): {data.get('state', 'unknown')}")
            for key, value in data.items():
                if key not in ("spec", "state", "mode"):
                    click.echo(f"  {key}: {value}")
        return 0
    with _target(project, region, local, spec) as target:
        from runner.batch.lookup import batch_status, job_status, list_jobs

        if spec is not None:
            found = batch_status(spec, target)
            if output_format == "json":
                _echo_json(
                    {
                        "spec": found.spec,
                        "revision": found.revision,
                        "state": found.state,
                        "jobs": [_job_dict(j) for j in found.jobs],
                    }
                )
                return 0
            click.echo(f"{found.spec}: {found.state} (current revision {found.revision})")
            if found.state == "changed":
                click.echo(
                    "  the spec or its inputs changed since the last run: "
                    f"`claude-jobs run {ref}` submits the new revision"
                )
            if found.jobs:
                _print_jobs(found.current or found.jobs, title=None if found.current else "earlier revisions")
            return 0
        if ref:
            job = job_status(target, ref)
            if output_format == "json":
                _echo_json(_job_dict(job))
            else:
                _print_jobs([job])
                if job.error:
                    click.echo(f"error: {job.error}")
            return 0
        jobs = [j for j in list_jobs(target) if not j.terminal]
        if output_format == "json":
            _echo_json([_job_dict(j) for j in jobs])
        elif jobs:
            _print_jobs(jobs, title="unfinished batch jobs")
        else:
            click.echo("no unfinished batch jobs (claude-jobs list shows finished ones)")
    return 0


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=str))
@project_options
@format_option("jsonl", "table")
@click.option("--limit", type=click.IntRange(min=1, max=sys.maxsize), default=None, help="At most N rows.")
@state_option
def results(spec_path, project, region, local, output_format, limit, state):
    """Print SPEC's results, one per custom_id: batch jobs' joined outputs, or the stream ledger."""
    import itertools

    spec = _load(spec_path)
    if spec.mode == "stream":
        from runner.stream import iter_results as stream_results
        from runner.stream import ledger_project

        _sync_stream_state(spec, project, region, local, state)
        _print_results(
            itertools.islice(stream_results(spec, ledger_project(project, local)), limit), output_format, spec
        )
        return 0
    with _target(project, region, local, spec) as target:
        from runner.batch.lookup import iter_results

        _print_results(itertools.islice(iter_results(spec, target), limit), output_format, spec)
    return 0


def _sync_stream_state(spec, project, region, local, state) -> None:
    """A Cloud Storage state location: bring this machine's copy of the ledger up to date first."""
    if state is None:
        return
    from runner.stream import sync_state

    with _target(project, region, local, spec) as target:
        sync_state(spec, target, state)


def _print_results(rows, output_format: str, spec) -> None:
    """Rows in the one result shape: kept columns, the typed answer's fields (or text), diagnostics."""
    import orjson

    from runner.dataio.results import ResultShape

    shape = ResultShape.of(spec)
    if output_format == "jsonl":
        for row in rows:
            click.echo(orjson.dumps(shape.record(row), default=str).decode())
        return
    from rich.console import Console
    from rich.table import Table

    columns = ["custom_id", "status", *shape.keep, *shape.fields, "stop_reason", "error"]
    table = Table(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        record = shape.record(row)
        error = row.error or {}
        record["error"] = (
            f"{error.get('type') or ''} {error.get('code') or ''} {error.get('message', '')}" if error else ""
        )
        table.add_row(*(_cell(record.get(column)) for column in columns))
    Console(highlight=False).print(table)


def _cell(value) -> str:
    import orjson

    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return " ".join(text.split())[:120]


@click.command()
@click.argument("ref", metavar="SPEC|JOB")
@project_options
def cancel(ref, project, region, local):
    """Cancel a spec's unfinished batch jobs (every revision), or one job by ID or name.

    Cancelling is best effort: rows a job already wrote stay, and
    `claude-jobs run SPEC --retry-failed` later submits only the rest.
    """
    spec = _load(ref) if _is_spec(ref) else None
    if spec is None:
        _check_job_ref(ref)
    if spec is not None and spec.mode == "stream":
        click.echo(
            f"{spec.name} is a stream spec: there is no remote job to cancel "
            "(stop a stream run with Ctrl-C; it resumes where it stopped)"
        )
        return 0
    with _target(project, region, local, spec) as target:
        from runner.batch.lookup import cancel as cancel_jobs

        cancelled = cancel_jobs(target, spec=spec, job=None if spec else ref)
        if not cancelled:
            click.echo("nothing to cancel: no unfinished batch job")
        for job in cancelled:
            click.echo(f"cancelling {job.display_name} ({job.name}), was {job.state}")
    return 0


@click.command(name="list")
@project_options
@format_option("text", "json")
def list_jobs(project, region, local, output_format):
    """List the batch jobs this tool submitted (found by their claude-jobs-spec label)."""
    with _target(project, region, local) as target:
        from runner.batch.lookup import list_jobs as all_jobs

        jobs = all_jobs(target)
        if output_format == "json":
            _echo_json([_job_dict(j) for j in jobs])
        elif jobs:
            _print_jobs(jobs)
        else:
            click.echo("no batch jobs submitted by claude-jobs in this project and region")
    return 0
