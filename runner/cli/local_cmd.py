"""`claude-jobs local up | down | status | logs`."""

from __future__ import annotations

import click

from runner.cli._common import format_option


@click.group()
def local():
    """The local stack: Cloud Storage and BigQuery emulators plus a local Vertex AI server.

    Runs use it automatically when no GCP project is configured; `local up`
    keeps one running between commands (state in .claude-jobs/local, or
    $CLAUDE_JOBS_HOME/local).
    """


def _port_option(name: str, env: str, default: int):
    return click.option(
        f"--{name}-port",
        f"{name.replace('-', '_')}_port",
        type=int,
        default=None,
        help=f"Port (default: ${env} or {default}; 0 picks a free port).",
    )


@local.command()
@_port_option("vertex", "CLAUDE_JOBS_LOCAL_VERTEX_PORT", 8790)
@_port_option("storage", "CLAUDE_JOBS_LOCAL_STORAGE_PORT", 4443)
@_port_option("bigquery", "CLAUDE_JOBS_LOCAL_BIGQUERY_PORT", 9050)
@_port_option("bigquery-grpc", "CLAUDE_JOBS_LOCAL_BIGQUERY_GRPC_PORT", 9060)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="YAML/JSON file of local Vertex server knobs (latency, quotas, faults, batch).",
)
def up(vertex_port, storage_port, bigquery_port, bigquery_grpc_port, config):
    """Start the local stack (or keep the running one) and print its endpoints."""
    from runner.cli.targets import require_local_stack
    from runner.local import stack

    require_local_stack()

    if stack.current() is not None:
        ignored = (
            " (--config and ports apply only when it starts: `local down` first)"
            if config
            or any(p is not None for p in (vertex_port, storage_port, bigquery_port, bigquery_grpc_port))
            else ""
        )
        click.echo(f"local stack already running{ignored}", err=True)
    endpoints = stack.up(
        vertex_port=vertex_port,
        storage_port=storage_port,
        bigquery_port=bigquery_port,
        bigquery_grpc_port=bigquery_grpc_port,
        config=config,
    )
    click.echo(
        f"vertex    {endpoints.vertex}   (simulated Claude)\n"
        f"storage   {endpoints.storage}   (STORAGE_EMULATOR_HOST={endpoints.storage})\n"
        f"bigquery  {endpoints.bigquery}\n"
        f"project   {endpoints.project}\n"
        f"state     {endpoints.root}"
    )


@local.command()
def down():
    """Stop every process of the local stack (its data stays in the state folder)."""
    from runner.local import stack

    click.echo("local stack stopped" if stack.down() else "local stack was not running", err=True)


@local.command()
@format_option("text", "json")
def status(output_format):
    """Endpoints, project and per-service state; exit code 3 if the stack is not fully up."""
    from runner.errors import EXIT_CONFIG, EXIT_OK
    from runner.local import stack

    info = stack.status()
    if output_format == "json":
        import json

        click.echo(json.dumps(info, indent=2))
    else:
        for name, is_up in info["services"].items():
            click.echo(f"{name:9} {'up  ' if is_up else 'down'}  {info[name] or '-'}")
        click.echo(f"project   {info['project']}\nstate     {info['state_dir']}")
    return EXIT_OK if info["running"] else EXIT_CONFIG


@local.command()
@click.argument("service", required=False, type=click.Choice(["vertex", "storage", "bigquery"]))
@click.option(
    "-n", "--lines", type=click.IntRange(min=0), default=40, show_default=True, help="Lines per log."
)
def logs(service, lines):
    """Print the last lines of a service's log (all three if SERVICE is omitted)."""
    from runner.local import stack

    for name in [service] if service else ["vertex", "storage", "bigquery"]:
        path = stack.log_file(name)
        click.echo(f"==> {path} <==")
        try:
            text = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            text = ["(no log yet)"]
        click.echo("\n".join(text[len(text) - lines :] if lines else []))
