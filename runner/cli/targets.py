"""The CLI's target: a real project, or the local stack started for the command and stopped after.

Only the CLI layer starts the local stack; `runner.clients` builds clients for whatever
target it is given and never imports `runner.local`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from runner.clients import DEFAULT_REGION, Target, cloud_target, configured_project
from runner.errors import ConfigError

INSTALL_LOCAL = "pip install 'claude-jobs[local]'"


def require_local_stack(where: str | None = None) -> None:
    """Fail in one line, before anything starts, when the `[local]` extra is not installed."""
    from runner.local import missing_modules

    missing = missing_modules()
    if not missing:
        return
    shown = ", ".join(missing)
    if where == "--project":
        raise ConfigError(
            f"no GCP project is configured and the local stack is not installed (missing: {shown})",
            where=where,
            hint=f"pass --project PROJECT or set GOOGLE_CLOUD_PROJECT to run on Vertex AI, or {INSTALL_LOCAL}",
        )
    raise ConfigError(f"the local stack is not installed (missing: {shown})", where=where, hint=INSTALL_LOCAL)


@contextmanager
def open_target(
    project_flag: str | None = None, region: str = DEFAULT_REGION, *, force_local: bool = False, announce=None
) -> Iterator[Target]:
    """Resolve the target; for the local stack, start it if needed and stop it afterwards.

    `announce(text)` is called once with a line saying which target is used.
    """
    project = None if force_local else configured_project(project_flag)
    if project:
        target = cloud_target(project, region)
        if announce:
            announce(f"Target: {target.description}")
        yield target
        return
    require_local_stack("--local" if force_local else "--project")
    from runner.local.stack import ensure_up

    with ensure_up() as endpoints:
        target = Target(
            project=endpoints.project,
            region=region,
            local=True,
            vertex_url=endpoints.vertex,
            storage_url=endpoints.storage,
            bigquery_url=endpoints.bigquery,
        )
        if announce:
            announce(
                f"Target: {target.description} — no GCP project configured "
                "(pass --project or set GOOGLE_CLOUD_PROJECT for real Vertex AI)"
            )
        yield target
