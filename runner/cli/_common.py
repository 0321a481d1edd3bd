"""Options and output shared by several commands."""

from __future__ import annotations

import functools

import click

from runner.errors import EXIT_JOB_FAILED, EXIT_OK, UsageError


def project_options(func):
    """--project / --region / --local, the only target wiring a command needs."""

    @click.option(
        "--project",
        envvar=None,
        default=None,
        help="GCP project to run on (default: $GOOGLE_CLOUD_PROJECT; none: the local stack).",
    )
    @click.option(
        "--region",
        default=None,
        callback=_check_region,
        help="Vertex AI location (default: the spec's region, us-east5).",
    )
    @click.option("--local", is_flag=True, help="Use the local stack even if a GCP project is configured.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def format_option(*choices: str, help: str | None = None):
    """--format CHOICE (the first is the default), passed as `output_format`."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help,
    )


def summary_options(func):
    """--format text|json for the run summaries on stdout, and --no-progress."""
    func = click.option("--no-progress", is_flag=True, help="No live progress display.")(func)
    return format_option("text", "json", help="Summary format on stdout (one summary per spec).")(func)


def stack_outputs_option(func):
    """--stack-outputs FILE; without it the CLAUDE_JOBS_* variables (docs/infra.md) give the platform."""
    return click.option(
        "--stack-outputs",
        "stack_outputs",
        metavar="FILE",
        default=None,
        help="JSON from `pulumi stack output --json`: also check that specs use the platform's "
        "bucket, datasets and region (default: the CLAUDE_JOBS_* variables, if set).",
    )(func)


def platform(stack_outputs: str | None):
    """The StackOutputs to check specs against: the flag's file over the CLAUDE_JOBS_* variables."""
    from runner.spec import resolve_stack_outputs

    return resolve_stack_outputs(stack_outputs)


def state_option(func):
    """--state: the state location (default: $CLAUDE_JOBS_STATE, else the local state folder)."""
    return click.option(
        "--state",
        "state",
        default=None,
        callback=_check_state,
        help="State location gs://BUCKET/PREFIX for ledgers, locks and claims shared by every "
        "machine (default: $CLAUDE_JOBS_STATE; none: the local state folder .claude-jobs/).",
    )(func)


def _check_state(ctx, param, value: str | None) -> str | None:
    from runner.state.store import state_uri

    return state_uri(value)


def wait_lock_option(func):
    return click.option(
        "--wait-lock",
        "wait_lock",
        default="0",
        metavar="DURATION",
        callback=_check_duration,
        help="If another run (on any machine) holds the spec's lock, wait for it this long "
        "(e.g. 90s, 30m, 2h) instead of stopping at once.",
    )(func)


def _check_duration(ctx, param, value: str) -> float:
    return parse_duration(value, "--wait-lock")


def parse_duration(value: str, where: str) -> float:
    text = value.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:]) if text else None
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 7 * 86_400 or seconds != seconds:
        raise UsageError(
            f"{value!r} is not a duration",
            where=where,
            hint="use seconds or a unit: 90s, 30m, 2h (at most 7 days)",
        )
    return seconds


def _check_region(ctx, param, value: str | None) -> str | None:
    """A location the model catalog knows; a typo must not silently fall back to the spec's region."""
    if value is None:
        return None
    region = value.strip()
    known = _known_regions()
    if not region:
        raise UsageError(
            "empty region",
            where="--region",
            hint="pass a location such as us-east5, or omit --region to use the spec's",
        )
    if region not in known:
        raise UsageError(
            f"{region!r} is not a Vertex AI location that serves Claude",
            where="--region",
            hint="known: " + ", ".join(sorted(known)),
        )
    return region


def _known_regions() -> set[str]:
    from runner.spec import catalog

    return {region for model in catalog() for region in (*model.regions, *model.batch_regions)}


def check_region(spec, region: str | None, *, name_spec: bool = False) -> None:
    """`--region` overrides the spec's region: the spec's model must run there in its mode."""
    if region is None or region == spec.region:
        return
    from runner.spec import catalog

    info = catalog().get(spec.model)
    if info is None or info.supports(region, spec.mode):
        return
    regions = info.batch_regions if spec.mode == "batch" else info.regions
    which = f"{spec.path}: " if name_spec else ""
    raise UsageError(
        f"{which}{spec.model} does not run {spec.mode} requests in {region}",
        where="--region",
        hint="use one of: " + (", ".join(regions) or "none"),
    )


def check_regions(specs, region: str | None) -> None:
    """`check_region` for every spec of plan/apply, naming the spec that cannot move there."""
    for spec in specs:
        check_region(spec, region, name_spec=True)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def opened_target(project: str | None, region: str | None, local: bool, *, sends: bool = False):
    """`runner.cli.targets.open_target` (a context manager) with its one line on stderr: bold for
    the commands that send work (run, plan, apply), dim for those that only look."""
    from runner.cli.targets import DEFAULT_REGION, open_target

    console = stderr_console()
    return open_target(
        project,
        region or DEFAULT_REGION,
        force_local=local,
        announce=lambda line: console.print(line, style="bold" if sends else "dim"),
    )


def emit_summary(summary, output_format: str) -> int:
    """Print a RunSummary on stdout; return the exit code it implies."""
    if output_format == "json":
        import orjson

        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        lines = [f"{summary.spec} ({summary.mode}) on {summary.target}: {summary.state}"]
        if summary.collected:
            lines += [
                f"  rows: {summary.total} total, {summary.succeeded} succeeded, "
                f"{summary.errored} errored, {summary.skipped} already done",
                f"  tokens: {summary.input_tokens} in, {summary.output_tokens} out; "
                f"cost ~${summary.cost_usd:.4f}",
            ]
        else:
            lines.append("  rows: none collected yet (the jobs have not finished)")
        if summary.jobs:
            lines.append("  jobs: " + ", ".join(summary.jobs))
        if summary.destination:
            lines.append(f"  results: {summary.destination}")
        # What went wrong and what to do next, when the executor says (e.g. batch job outcomes).
        lines.extend(f"  {line}" for line in summary.details.get("report") or ())
        click.echo("\n".join(lines))
    return EXIT_OK if summary.ok else EXIT_JOB_FAILED
