"""`claude-jobs run`."""

from __future__ import annotations

import click

from runner.cli._common import (
    check_region,
    emit_summary,
    opened_target,
    platform,
    project_options,
    stack_outputs_option,
    state_option,
    summary_options,
    wait_lock_option,
)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=str))
@project_options
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also re-send rows that errored in an earlier run (stream), or submit a "
    "follow-up job with only the errored and missing rows (batch).",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Start over: discard the saved stream state of a changed spec, and replace a "
    "destination that holds data this spec did not write.",
)
@click.option(
    "--cancel-on-interrupt",
    is_flag=True,
    help="Batch: Ctrl-C cancels the job (default: leave it running; re-run to re-attach).",
)
@click.option("--no-wait", is_flag=True, help="Batch: submit (or attach) and return without waiting.")
@summary_options
@stack_outputs_option
@state_option
@wait_lock_option
def run(
    spec_path,
    project,
    region,
    local,
    retry_failed,
    restart,
    cancel_on_interrupt,
    no_wait,
    output_format,
    no_progress,
    stack_outputs,
    state,
    wait_lock,
):
    """Run SPEC: stream calls or a batch prediction job, exactly once.

    Re-running an unchanged spec never sends a row twice: stream runs resume
    from their ledger, batch runs attach to the job they already submitted.
    Without a GCP project the local stack is started, used and stopped.
    """
    from runner.execute import execute
    from runner.records import RunOptions
    from runner.spec import load_spec

    spec = load_spec(spec_path, platform(stack_outputs))
    check_region(spec, region)
    options = RunOptions(
        retry_failed=retry_failed,
        restart=restart,
        cancel_on_interrupt=cancel_on_interrupt,
        wait=not no_wait,
        progress=not no_progress and output_format == "text",
        state=state,
        wait_lock=wait_lock,
    )
    with opened_target(project, region or spec.region, local, sends=True) as target:
        summary = execute(spec, target, options)
    if summary.destination and "://" not in summary.destination:
        from runner.paths import shown

        summary.destination = shown(spec.resolve_local(summary.destination))  # as the user opens it
    return emit_summary(summary, output_format)
