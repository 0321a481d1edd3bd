"""Reads and validates every stack setting of the platform, once, before any resource exists.

`load_config()` reads the stack's Pulumi config (keys documented in Pulumi.yaml);
`parse_config(values)` is the pure part, so tests can feed it plain dicts. All
problems are reported together in one line, raised as `InfraConfigError`, which
Pulumi prints without a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import yaml

PROJECT_NAMESPACE = "claude-jobs"
DEFAULT_REGION = "us-east5"
DEFAULT_NAME_PREFIX = "claude-jobs"
DEFAULT_DATASETS = ("inputs", "outputs")
DEFAULT_RETENTION_DAYS = 30
DEFAULT_NONCURRENT_RETENTION_DAYS = 7

# Every key of the `claude-jobs` namespace, as declared (with description and default) in Pulumi.yaml.
TEXT_KEYS = (
    "project",
    "region",
    "namePrefix",
    "githubRepository",
    "githubRepositoryId",
    "githubRepositoryOwnerId",
    "bucketName",
    "kmsKeyName",
    "retentionDays",
    "noncurrentRetentionDays",
    "tableExpirationDays",
)
LIST_KEYS = ("labels", "datasets")
CONFIG_KEYS = TEXT_KEYS + LIST_KEYS

# The regions come from the runner's model catalog, the one place that lists where Claude runs.
CATALOG_FILE = Path(__file__).resolve().parents[1] / "runner" / "spec" / "models.yaml"

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_NUMERIC_ID = re.compile(r"^[0-9]{1,20}$")
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
_DATASET_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")


class InfraConfigError(pulumi.RunError):
    """The stack configuration is invalid; `str()` is one line naming every bad key."""


@dataclass(frozen=True)
class GitHubRepository:
    """The one repository whose workflows may impersonate the runner service account."""

    name: str  # "owner/repo"
    repository_id: str | None = None  # numeric GitHub ids survive renames and transfers
    owner_id: str | None = None


@dataclass(frozen=True)
class PlatformConfig:
    project: str
    region: str
    name_prefix: str
    github: GitHubRepository
    labels: dict[str, str] = field(default_factory=dict)
    bucket_name: str = ""
    dataset_names: tuple[str, ...] = DEFAULT_DATASETS
    kms_key_name: str | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    noncurrent_retention_days: int = DEFAULT_NONCURRENT_RETENTION_DAYS
    table_expiration_days: int | None = None

    @property
    def resource_labels(self) -> dict[str, str]:
        """Labels on every labelled resource: the stack's own, plus what made it."""
        return {"app": "claude-jobs", "managed-by": "pulumi", **self.labels}

    @property
    def dataset_ids(self) -> list[str]:
        """BigQuery dataset ids: `<prefix with underscores>_<name>`."""
        stem = self.name_prefix.replace("-", "_")
        return [f"{stem}_{name}" for name in self.dataset_names]


@cache
def claude_regions() -> frozenset[str]:
    """Regional locations where at least one non-retired Claude model runs batch prediction."""
    try:
        data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InfraConfigError(f"cannot read the model catalog {CATALOG_FILE}: {exc}") from None
    return frozenset(
        region
        for model in data["models"]
        if model.get("status") != "retired"
        for region in model.get("batch_regions", [])
    )


def load_config() -> PlatformConfig:
    """The validated settings of the current stack (`claude-jobs:*`, falling back to `gcp:project`)."""
    config = pulumi.Config(PROJECT_NAMESPACE)
    # Numbers are read as text too: parse_config names the key when one is not a number.
    values: dict[str, Any] = {key: config.get(key) for key in TEXT_KEYS}
    values.update({key: _get_object(config, key) for key in LIST_KEYS})
    if not values["project"]:
        values["project"] = pulumi.Config("gcp").get("project")
    return parse_config(values)


def parse_config(values: Mapping[str, Any]) -> PlatformConfig:
    """Validate raw config values (camelCase keys as in Pulumi.yaml); empty means unset."""
    errors: list[str] = []

    def err(key: str, message: str) -> None:
        errors.append(f"{PROJECT_NAMESPACE}:{key} {message}")

    project = _text(values.get("project"))
    if not project:
        err("project", "is not set (run `pulumi config set claude-jobs:project MY_PROJECT`)")
    elif not _PROJECT_ID.match(project):
        err(
            "project",
            f"{project!r} is not a Google Cloud project id (6-30 lowercase letters, digits or hyphens)",
        )

    region = _text(values.get("region")) or DEFAULT_REGION
    allowed = claude_regions()
    if region not in allowed:
        err(
            "region",
            f"{region!r} has no Claude batch prediction on Vertex AI "
            f"(use one of: {', '.join(sorted(allowed))})",
        )

    prefix = _text(values.get("namePrefix")) or DEFAULT_NAME_PREFIX
    if not _NAME_PREFIX.match(prefix) or prefix.startswith("gcp-"):
        err(
            "namePrefix",
            f"{prefix!r} must be 3-20 lowercase letters, digits or hyphens, "
            "starting with a letter (and not `gcp-`, reserved for pools)",
        )

    repository = _text(values.get("githubRepository"))
    if not repository:
        err("githubRepository", "is not set (the `owner/repo` whose workflows run jobs)")
    elif not _REPOSITORY.match(repository):
        err("githubRepository", f"{repository!r} is not `owner/repo`")
    repository_id = _text(values.get("githubRepositoryId")) or None
    owner_id = _text(values.get("githubRepositoryOwnerId")) or None
    for key, number in (("githubRepositoryId", repository_id), ("githubRepositoryOwnerId", owner_id)):
        if number is not None and not _NUMERIC_ID.match(number):
            err(
                key,
                f"{number!r} must be the numeric GitHub id (`gh api repos/OWNER/REPO "
                "--jq .id` / `.owner.id`)",
            )

    labels = _labels(values.get("labels"), err)

    bucket_name = _text(values.get("bucketName")) or (f"{project}-{prefix}" if project else "")
    if bucket_name and (
        not _BUCKET_NAME.match(bucket_name) or bucket_name.startswith("goog") or "google" in bucket_name
    ):
        err(
            "bucketName",
            f"{bucket_name!r} is not a valid bucket name (3-63 lowercase letters, "
            "digits, '-', '_' or '.'; set claude-jobs:bucketName explicitly)",
        )

    dataset_names = _dataset_names(values.get("datasets"), err)

    kms_key_name = _text(values.get("kmsKeyName")) or None
    if kms_key_name is not None:
        match = _KMS_KEY.match(kms_key_name)
        if not match:
            err("kmsKeyName", f"{kms_key_name!r} is not projects/P/locations/L/keyRings/R/cryptoKeys/K")
        elif match["location"] != region:
            err(
                "kmsKeyName",
                f"key is in {match['location']!r}, but CMEK for a bucket and "
                f"datasets in {region!r} needs a key in {region!r}",
            )

    retention = _days(values.get("retentionDays"), DEFAULT_RETENTION_DAYS, "retentionDays", err)
    noncurrent = _days(
        values.get("noncurrentRetentionDays"),
        DEFAULT_NONCURRENT_RETENTION_DAYS,
        "noncurrentRetentionDays",
        err,
    )
    expiration = _days(values.get("tableExpirationDays"), 0, "tableExpirationDays", err, allow_zero=True)

    if errors:
        raise InfraConfigError("invalid stack config: " + "; ".join(errors))
    return PlatformConfig(
        project=project,
        region=region,
        name_prefix=prefix,
        github=GitHubRepository(repository, repository_id, owner_id),
        labels=labels,
        bucket_name=bucket_name,
        dataset_names=dataset_names,
        kms_key_name=kms_key_name,
        retention_days=retention,
        noncurrent_retention_days=noncurrent,
        table_expiration_days=expiration or None,
    )


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _get_object(config: pulumi.Config, key: str) -> Any:
    raw = config.get(key)
    if raw is None:
        return None
    try:
        return config.get_object(key)
    except pulumi.ConfigTypeError:  # a plain `a,b` string rather than a list: parsed below
        return raw


def _days(value: Any, default: int, key: str, err, *, allow_zero: bool = False) -> int:
    if value is None or _text(value) == "":
        return default
    try:
        days = int(_text(value))
    except ValueError:
        err(key, f"{value!r} is not a whole number of days")
        return default
    if days < 0 or (days == 0 and not allow_zero) or days > 3650:
        err(key, f"{days} is out of range ({0 if allow_zero else 1}-3650 days)")
    return days


def _labels(value: Any, err) -> dict[str, str]:
    """`labels` is a list of `key=value` strings (Pulumi.yaml cannot declare map-typed config)."""
    if value in (None, "", []):
        return {}
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        err("labels", "must be a list of `key=value` strings")
        return {}
    labels: dict[str, str] = {}
    for item in items:
        key, sep, label = _text(item).partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(label):
            err(
                "labels",
                f"{item!r} is not `key=value` (lowercase letters, digits, '_' or '-'; "
                "keys start with a letter)",
            )
            continue
        labels[key] = label
    return labels


def _dataset_names(value: Any, err) -> tuple[str, ...]:
    if value in (None, "", []):
        return DEFAULT_DATASETS
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        err("datasets", "must be a list of dataset names")
        return DEFAULT_DATASETS
    names = tuple(_text(item) for item in items)
    for name in names:
        if not _DATASET_NAME.match(name):
            err("datasets", f"{name!r} must be lowercase letters, digits or '_'")
    if len(set(names)) != len(names):
        err("datasets", "names must be unique")
    return names
