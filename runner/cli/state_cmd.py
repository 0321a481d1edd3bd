"""`claude-jobs unlock` and `claude-jobs state push`: the state location by hand."""

from __future__ import annotations

import click

from runner.cli._common import opened_target, project_options, state_option


def _target(project, region, local):
    return opened_target(project, region, local)


@click.command()
@click.argument("spec_ref", metavar="SPEC")
@project_options
@state_option
def unlock(spec_ref, project, region, local, state):
    """Remove the lock of SPEC (a spec file or a spec name), whoever holds it.

    Like `terraform force-unlock`: only when the run holding it is gone (a killed
    runner) and you do not want to wait for its lease to expire. A run that still
    holds it notices at its next lease renewal and stops writing.
    """
    from pathlib import Path

    from runner.state import open_state
    from runner.state.locks import force_unlock

    if spec_ref.endswith((".yaml", ".yml")) or Path(spec_ref).is_file():
        from runner.spec import load_spec

        name = load_spec(spec_ref).name
    else:
        name = spec_ref
    with _target(project, region, local) as target:
        store = open_state(state, target)
        holder = force_unlock(store, target.project, name)
    if holder is None:
        click.echo(f"{name}: not locked in {store.uri}")
    else:
        click.echo(f"{name}: removed the lock held by {holder.describe()}")
    return 0


@click.group()
def state():
    """The state location (ledgers, locks, destination claims): see docs/gitops.md."""


@state.command()
@project_options
@state_option
def push(project, region, local, state):
    """Copy this machine's stream ledgers and destination claims to the state location.

    For moving to a shared state location (--state or CLAUDE_JOBS_STATE) without
    losing what earlier runs finished. Ledgers the state location already has are
    left alone (it is the source of truth from then on).
    """
    from runner.errors import UsageError
    from runner.state import open_state
    from runner.stream.migrate import push_local_state

    if state is None:
        raise UsageError(
            "no state location to push to",
            where="--state",
            hint="pass --state gs://BUCKET/PREFIX or set CLAUDE_JOBS_STATE",
        )
    with _target(project, region, local) as target:
        store = open_state(state, target)
        for line in push_local_state(store):
            click.echo(line)
    return 0
