"""Options and output shared by several commands."""

from __future__ import annotations

import functools

import click

from ..errors import EXIT_JOB_FAILED, EXIT_OK


def project_options(func):
    """--project / --region / --local, the only target wiring a command needs."""

    @click.option("--project", envvar=None, default=None,
                  help="GCP project to run on (default: $GOOGLE_CLOUD_PROJECT; none: the local stack).")
    @click.option("--region", default=None, help="Vertex AI location (default: the spec's region, us-east5).")
    @click.option("--local", is_flag=True,
                  help="Use the local stack even if a GCP project is configured.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit_summary(summary, output_format: str) -> int:
    """Print a RunSummary on stdout; return the exit code it implies."""
    if output_format == "json":
        import orjson

        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        lines = [
            f"{summary.spec} ({summary.mode}) on {summary.target}: {summary.state}",
            f"  rows: {summary.total} total, {summary.succeeded} succeeded, "
            f"{summary.errored} errored, {summary.skipped} already done",
            f"  tokens: {summary.input_tokens} in, {summary.output_tokens} out; "
            f"cost ~${summary.cost_usd:.4f}",
        ]
        if summary.jobs:
            lines.append("  jobs: " + ", ".join(summary.jobs))
        if summary.destination:
            lines.append(f"  results: {summary.destination}")
        # What went wrong and what to do next, when the executor says (e.g. batch job outcomes).
        lines.extend(f"  {line}" for line in summary.details.get("report") or ())
        click.echo("\n".join(lines))
    return EXIT_OK if summary.ok else EXIT_JOB_FAILED
