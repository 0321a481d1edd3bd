"""The provisioned platform as the runner sees it: the Pulumi stack outputs of `infra/`.

Two sources, same shape: the JSON of `pulumi stack output --json > platform.json`
(`load_stack_outputs`), or `CLAUDE_JOBS_*` environment variables set by CI
(`stack_outputs_from_env`). `resolve_stack_outputs` picks one: the `--stack-outputs` file when
given (the variables are then ignored), else the variables, else none. With outputs,
validate, plan, apply and run check that specs use the platform's bucket, datasets and region.

A bad file or a bad key in it is a configuration error (exit 3) naming the file and `$.key`;
a bad or missing variable is a usage error (exit 2) naming the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ClaudeJobsError, ConfigError, UsageError
from runner.paths import PROJECT_ID

REQUIRED = ("project", "region", "bucket", "bigquery_datasets")
OPTIONAL = ("runner_service_account", "workload_identity_provider", "vertex_service_agent")

# Stack output key -> environment variable carrying it.
ENV_VARS = {
    "project": "CLAUDE_JOBS_PROJECT",
    "region": "CLAUDE_JOBS_REGION",
    "bucket": "CLAUDE_JOBS_BUCKET",
    "bigquery_datasets": "CLAUDE_JOBS_DATASETS",  # comma-separated dataset ids
    "runner_service_account": "CLAUDE_JOBS_RUNNER_SERVICE_ACCOUNT",
    "workload_identity_provider": "CLAUDE_JOBS_WORKLOAD_IDENTITY_PROVIDER",
    "vertex_service_agent": "CLAUDE_JOBS_VERTEX_SERVICE_AGENT",
}
# `stateUri` (ledgers, locks and claims; docs/gitops.md) reaches runs as CLAUDE_JOBS_STATE, which
# the state location reads itself: setting it alone must not make the platform look half-set.

SAVE_HINT = "save them with `pulumi stack output --json > platform.json`"
ENV_HINT = (
    "set CLAUDE_JOBS_PROJECT, CLAUDE_JOBS_REGION, CLAUDE_JOBS_BUCKET and CLAUDE_JOBS_DATASETS "
    "together, or unset them all and pass --stack-outputs FILE"
)
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


@dataclass(frozen=True)
class StackOutputs:
    """Where the platform lives: project, region, the batch bucket and datasets, identities."""

    project: str
    region: str
    bucket: str  # bucket name, no gs://
    bigquery_datasets: list[str] = field(default_factory=list)  # dataset ids in `project`
    runner_service_account: str | None = None
    workload_identity_provider: str | None = None
    vertex_service_agent: str | None = None
    state_uri: str | None = None  # `stateUri`: gs://bucket/prefix of the shared state

    @classmethod
    def from_dict(cls, data: Any, where: str = "stack outputs") -> StackOutputs:
        """Validate a decoded `pulumi stack output --json`; errors name `where` and the key."""
        if not isinstance(data, dict):
            raise ConfigError("stack outputs must be a JSON object", where=where, hint=SAVE_HINT)
        return _build(lambda key: data.get(key), lambda key: f"{where}: $.{key}")


def load_stack_outputs(path: str | Path) -> StackOutputs:
    """Read `pulumi stack output --json` saved to a file."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no such stack outputs file: {path}", where="--stack-outputs", hint=SAVE_HINT
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a stack outputs file", where=where, hint=SAVE_HINT) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", where=where, hint=SAVE_HINT) from None
    except OSError as exc:
        raise ConfigError(f"cannot read stack outputs: {exc.strerror or exc}", where=where) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not JSON: {exc.msg}", where=f"{where}:{exc.lineno}:{exc.colno}", hint=SAVE_HINT
        ) from None
    return StackOutputs.from_dict(data, where=where)


def resolve_stack_outputs(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> StackOutputs | None:
    """The platform a command checks specs against: the `--stack-outputs` file over the variables."""
    if path is not None:
        return load_stack_outputs(path)
    return stack_outputs_from_env(environ)


def stack_outputs_from_env(environ: Mapping[str, str] | None = None) -> StackOutputs | None:
    """The platform from `CLAUDE_JOBS_*` variables; None when none of them is set.

    A missing or malformed variable is a `UsageError` (exit 2) naming it.
    """
    environ = os.environ if environ is None else environ
    raw = {key: environ.get(var, "").strip() for key, var in ENV_VARS.items()}
    if not any(raw.values()):
        return None

    def get(key: str) -> Any:
        value = raw.get(key, "")
        if key == "bigquery_datasets":
            return [item.strip() for item in value.split(",") if item.strip()] if value else None
        return value or None

    missing = [ENV_VARS[key] for key in REQUIRED if get(key) in (None, [])]
    if missing:
        given = ", ".join(var for key, var in ENV_VARS.items() if raw[key])
        raise UsageError(
            f"not set, but other stack-output variables are ({given})", where=missing[0], hint=ENV_HINT
        )
    return _build(get, lambda key: ENV_VARS[key], UsageError)


def _build(
    get: Callable[[str], Any], where: Callable[[str], str], error: type[ClaudeJobsError] = ConfigError
) -> StackOutputs:
    missing = [key for key in REQUIRED if get(key) in (None, "", [])]
    if missing:
        raise error(
            f"stack outputs lack {', '.join(missing)}",
            where=where(missing[0]),
            hint="run `pulumi up` on the platform stack (infra/), then " + SAVE_HINT,
        )
    text = {key: _string(get(key), key, where, error) for key in ("project", "region", "bucket")}
    if not PROJECT_ID.match(text["project"]):
        raise error(f"{text['project']!r} is not a Google Cloud project id", where=where("project"))
    if not _REGION.match(text["region"]):
        raise error(
            f"{text['region']!r} is not a region such as us-east5",
            where=where("region"),
            hint="batch jobs need a regional location",
        )
    bucket = text["bucket"].removeprefix("gs://").rstrip("/")
    if not _BUCKET.match(bucket):
        raise error(f"{text['bucket']!r} is not a bucket name", where=where("bucket"))
    datasets = get("bigquery_datasets")
    if isinstance(datasets, str):
        datasets = [datasets]
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise error("must be a list of dataset ids", where=where("bigquery_datasets"))
    # Accept `project.dataset` / `project:dataset` as other tools print them; keep the id.
    datasets = [d.replace(":", ".").rsplit(".", 1)[-1] for d in datasets]
    bad = [d for d in datasets if not _DATASET.match(d)]
    if bad:
        raise error(f"{bad[0]!r} is not a BigQuery dataset id", where=where("bigquery_datasets"))
    optional = {
        key: _string(get(key), key, where, error) if get(key) not in (None, "") else None for key in OPTIONAL
    }
    state = get("stateUri")
    state_uri = _string(state, "stateUri", where, error) if state not in (None, "") else None
    if state_uri is not None and not state_uri.startswith("gs://"):
        raise error(f"{state_uri!r} is not a gs:// prefix", where=where("stateUri"))
    return StackOutputs(
        project=text["project"],
        region=text["region"],
        bucket=bucket,
        bigquery_datasets=datasets,
        state_uri=state_uri,
        **optional,
    )


def _string(value: Any, key: str, where: Callable[[str], str], error: type[ClaudeJobsError]) -> str:
    if not isinstance(value, str):
        raise error(f"must be a string, not {type(value).__name__}", where=where(key))
    return value.strip()
