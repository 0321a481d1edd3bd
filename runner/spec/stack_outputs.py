"""The platform's Pulumi stack outputs (`pulumi stack output --json`), as validate needs them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

REQUIRED = ("project", "region", "bucket", "bigquery_datasets")


@dataclass(frozen=True)
class StackOutputs:
    project: str
    region: str
    bucket: str
    bigquery_datasets: list[str] = field(default_factory=list)
    runner_service_account: str | None = None
    workload_identity_provider: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "stack outputs") -> StackOutputs:
        if not isinstance(data, dict):
            raise UsageError("stack outputs must be a JSON object", where=where,
                             hint="write it with `pulumi stack output --json > outputs.json`")
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise UsageError(f"stack outputs lack {', '.join(missing)}", where=where,
                             hint="run `pulumi stack output --json` on the platform stack")
        datasets = data["bigquery_datasets"]
        if isinstance(datasets, str):
            datasets = [datasets]
        if not (all(isinstance(data[k], str) for k in ("project", "region", "bucket"))
                and isinstance(datasets, list) and all(isinstance(d, str) for d in datasets)):
            raise UsageError("stack outputs: project, region and bucket must be strings and "
                             "bigquery_datasets a list of strings", where=where)
        # Outputs may name datasets as "project.dataset" or "project:dataset"; keep the dataset id.
        datasets = [d.replace(":", ".").rsplit(".", 1)[-1] for d in datasets]
        return cls(project=data["project"], region=data["region"],
                   bucket=data["bucket"].removeprefix("gs://").rstrip("/"),
                   bigquery_datasets=datasets,
                   runner_service_account=data.get("runner_service_account"),
                   workload_identity_provider=data.get("workload_identity_provider"))


def load_stack_outputs(path: str | Path) -> StackOutputs:
    """Read the JSON file; any problem is a usage error naming the file."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}", where="--stack-outputs") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", where="--stack-outputs") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", where=where,
                         hint="write it with `pulumi stack output --json > outputs.json`") from None
    return StackOutputs.from_dict(data, where=where)
