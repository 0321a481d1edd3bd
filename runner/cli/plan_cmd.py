"""`claude-jobs plan` and `claude-jobs apply`: the GitOps pair, like terraform plan/apply."""

from __future__ import annotations

import click

from runner.cli._common import (
    check_regions,
    emit_summary,
    format_option,
    opened_target,
    platform,
    project_options,
    stack_outputs_option,
    state_option,
    stderr_console,
    summary_options,
    wait_lock_option,
)
from runner.errors import EXIT_CHANGES, EXIT_INVALID, EXIT_OK

PLAN_EPILOG = """\b
Exit codes:
  0  valid specs; no changes (or changes, without --detailed-exitcode)
  1  at least one spec is invalid (the valid ones are still planned)
  2  usage error
  3  target or configuration error (credentials, local stack)
  4  remote error (reading job state or a gs:// / bq:// input)
  6  valid specs and something to run (only with --detailed-exitcode;
     offline, a spec whose state is unknown counts as a change)
  130 interrupted
"""

APPLY_EPILOG = """\b
Exit codes:
  0  every spec that needed a run ran successfully (or nothing to run)
  1  at least one spec is invalid: nothing was run
  2  usage error
  3  target or configuration error
  4  a remote error stopped a run
  5  a run ended with failed rows or an unsuccessful batch job
  130 interrupted; run apply again to resume
The first failing spec's code wins; the other specs still run.
"""


def _paths(paths: tuple[str, ...]) -> list[str]:
    return list(paths) or ["jobs/"]


@click.command(epilog=PLAN_EPILOG)
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=str))
@project_options
@click.option(
    "--offline",
    is_flag=True,
    help="No network, no local stack: estimate tokens locally, leave the state unknown.",
)
@format_option(
    "table",
    "json",
    "markdown",
    help="table for people, json for pipelines, markdown for a pull request comment.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 6 when something would run (like terraform plan -detailed-exitcode).",
)
@click.option(
    "--sample-size",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Requests sent to count-tokens per spec; above this the total is extrapolated.",
)
@stack_outputs_option
@state_option
def plan(
    paths,
    project,
    region,
    local,
    offline,
    output_format,
    detailed_exitcode,
    sample_size,
    stack_outputs,
    state,
):
    """Show what `run` would do for each spec under PATH (files or folders; default jobs/).

    For every spec: mode, model and region, number of requests, input tokens
    (counted with the count-tokens endpoint; estimated with --offline), the
    worst-case output tokens (the sum of max_tokens), the maximum cost from
    the model catalog's prices (its batch discount applied to batch specs),
    the destination, and the state: new (never ran), changed (ran at another revision: apply starts the
    new revision over), incomplete (a stream run at this revision was
    interrupted: apply resumes it) or up-to-date (ran or running at this
    revision), read from batch job labels and the stream ledger. Nothing is
    sent to Claude. See docs/gitops.md.
    """
    from runner.gitops.plan import PlanOptions, build_plan, load_specs
    from runner.gitops.plan_format import print_table, render

    options = PlanOptions(offline=offline, sample_size=sample_size, region=region, state=state)
    specs, errors = load_specs(_paths(paths), platform(stack_outputs))
    check_regions(specs, region)
    if offline or not specs:
        result = build_plan(specs, errors, None, options)
    else:
        with opened_target(project, region, local, sends=True) as target:
            result = build_plan(specs, errors, target, options)
    if output_format == "table":
        from rich.console import Console

        console = Console(highlight=False)
        # Pipes and CI logs: never fold an error line (one problem, one line).
        console.soft_wrap = not console.is_terminal
        print_table(result, console)
    else:
        click.echo(render(result, output_format), nl=False)
    if result.errors:
        return EXIT_INVALID
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@click.command(epilog=APPLY_EPILOG)
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=str))
@project_options
@click.option(
    "--no-wait", is_flag=True, help="Batch: submit and return without waiting (a later `run SPEC` collects)."
)
@summary_options
@stack_outputs_option
@state_option
@wait_lock_option
def apply(
    paths, project, region, local, no_wait, output_format, no_progress, stack_outputs, state, wait_lock
):
    """Run every spec under PATH that plan marks new, changed or incomplete, and nothing else.

    A changed spec runs its new revision from the start (what `run --restart`
    does); an incomplete one resumes; up-to-date specs are skipped. Applying
    twice runs nothing the second time. If any spec is invalid nothing runs.
    Prints a summary per spec.
    """
    from runner.gitops.apply import apply as apply_specs
    from runner.gitops.plan import load_specs
    from runner.records import RunOptions

    specs, errors = load_specs(_paths(paths), platform(stack_outputs))
    check_regions(specs, region)
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        click.echo("nothing was applied: fix the invalid specs first", err=True)
        return EXIT_INVALID
    console = stderr_console()
    options = RunOptions(
        wait=not no_wait,
        progress=not no_progress and output_format == "text",
        state=state,
        wait_lock=wait_lock,
    )

    def on_start(line):
        console.print(
            f"{line.name}: {line.state} -> running revision {line.revision}",
            style="bold",
            markup=False,
            highlight=False,
        )

    def on_done(applied):
        if output_format != "text":
            return
        if applied.summary is not None:
            emit_summary(applied.summary, "text")
        elif applied.error is not None:
            click.echo(f"{applied.plan.name}: failed: {applied.error}", err=True)
        else:
            click.echo(f"{applied.plan.name}: up to date ({applied.plan.detail}), nothing to run")

    with opened_target(project, region, local, sends=True) as target:
        result = apply_specs(specs, target, options, region=region, on_start=on_start, on_done=on_done)
    if output_format == "json":
        import orjson

        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        ran = sum(a.ran for a in result.applied)
        skipped = sum(not a.ran and a.error is None for a in result.applied)
        failed = sum(bool(a.exit_code) for a in result.applied)
        click.echo(
            f"Apply: {ran} spec(s) run, {skipped} up to date" + (f", {failed} failed." if failed else ".")
        )
    return result.exit_code
