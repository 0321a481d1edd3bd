"""The model catalog: which Claude models exist on Vertex AI, where, at what limits and prices.

The facts live in `models.yaml` (validated by `schemas/catalog.schema.json`);
this module only loads them. `catalog()` is cached for the life of the process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from runner.errors import ConfigError

Status = Literal["current", "deprecated", "retired"]
CATALOG_FILE = Path(__file__).with_name("models.yaml")


class _Record:
    """Attribute access plus `record["key"]`, so callers may treat prices and quotas as dicts."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass

    def __getitem__(self, key: str):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Prices(_Record):
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


@dataclass(frozen=True)
class Quota(_Record):
    """Default per-minute limits (per model and region) used when a spec sets none."""

    requests_per_minute: int
    input_tokens_per_minute: int
    output_tokens_per_minute: int


@dataclass(frozen=True)
class StructuredOutputs(_Record):
    """What a model takes for typed results (models.yaml `structured_outputs`)."""

    output_format: bool = False  # output_config.format with a JSON schema
    strict_tools: bool = False  # tools[].strict
    forced_tool_use: bool = True  # tool_choice {type: tool}

    @property
    def method(self) -> Literal["format", "tool"] | None:
        """How a typed answer is asked for: JSON outputs, else a forced tool call, else not at all."""
        if self.output_format:
            return "format"
        return "tool" if self.forced_tool_use else None


@dataclass(frozen=True)
class ModelInfo:
    id: str  # as used in the URL: "claude-3-5-haiku@20241022", "claude-sonnet-4-6"
    name: str  # without the version: "claude-3-5-haiku"
    version: str | None  # "20241022", or None for ids that carry none
    family: str  # haiku | sonnet | opus
    display_name: str
    requires_version: bool
    regions: list[str]  # online calls
    batch_regions: list[str]  # batch prediction jobs
    max_output_tokens: int
    context_window: int
    prices: Prices
    batch_discount: float  # fraction of the online price for batch rows (unconfirmed on Vertex)
    quota: Quota
    status: Status
    deprecation_date: str | None = None
    retirement_date: str | None = None
    replacement: str | None = None
    notes: str | None = None
    structured_outputs: StructuredOutputs = StructuredOutputs()

    def effective_status(self, today: dt.date | None = None) -> Status:
        """The declared status, advanced by dates that have passed (the data may be stale)."""
        today = today or dt.date.today()
        if self.status == "retired" or _passed(self.retirement_date, today):
            return "retired"
        if self.status == "deprecated" or _passed(self.deprecation_date, today):
            return "deprecated"
        return "current"

    def supports(self, region: str, mode: str = "stream") -> bool:
        return region in (self.batch_regions if mode == "batch" else self.regions)

    def cost_usd(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        *,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
        batch: bool = False,
    ) -> float:
        """The list price of a usage; batch rows get `batch_discount`."""
        total = (
            input_tokens * self.prices.input
            + output_tokens * self.prices.output
            + cache_write_tokens * self.prices.cache_write
            + cache_read_tokens * self.prices.cache_read
        ) / 1_000_000
        return total * self.batch_discount if batch else total


class Catalog:
    """All known models, looked up by the id written in a spec."""

    def __init__(self, models: list[ModelInfo], source: Path | None = None):
        self.models = list(models)
        self.source = source
        self._by_id = {m.id: m for m in self.models}

    def get(self, model_id: str) -> ModelInfo | None:
        """`name@version`, or a bare name for models that need no version; None otherwise."""
        if not isinstance(model_id, str):
            return None
        return self._by_id.get(model_id.strip())

    def versions_of(self, name: str) -> list[ModelInfo]:
        """Every catalogued version of a bare model name, newest first."""
        bare = name.split("@", 1)[0]
        found = [m for m in self.models if m.name == bare]
        return sorted(found, key=lambda m: m.version or "", reverse=True)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def __iter__(self):
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)


@cache
def catalog() -> Catalog:
    """The packaged catalog, validated against its schema once per process."""
    return load_catalog(CATALOG_FILE)


def load_catalog(path: Path) -> Catalog:
    import yaml

    from runner.spec.schema import validator_for

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the model catalog: {exc}", where=str(path)) from None
    problems = sorted(validator_for("catalog.schema.json").iter_errors(data), key=lambda e: list(e.path))
    if problems:
        first = problems[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
        raise ConfigError(f"invalid model catalog: {first.message}", where=f"{path}: {where}")
    default_discount = (data.get("defaults") or {}).get("batch_discount", 0.5)
    models = [_model(entry, default_discount) for entry in data["models"]]
    ids = [m.id for m in models]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"model ids listed twice: {', '.join(duplicates)}", where=str(path))
    return Catalog(models, source=path)


def _model(entry: dict[str, Any], default_discount: float) -> ModelInfo:
    version = entry.get("version")
    return ModelInfo(
        id=f"{entry['name']}@{version}" if version else entry["name"],
        name=entry["name"],
        version=version,
        family=entry["family"],
        display_name=entry["display_name"],
        requires_version=version is not None,
        regions=list(entry["regions"]),
        batch_regions=list(entry["batch_regions"]),
        max_output_tokens=entry["max_output_tokens"],
        context_window=entry["context_window"],
        prices=Prices(**{k: float(v) for k, v in entry["prices"].items()}),
        batch_discount=float(entry.get("batch_discount", default_discount)),
        quota=Quota(**entry["quota"]),
        status=entry["status"],
        deprecation_date=entry.get("deprecation_date"),
        retirement_date=entry.get("retirement_date"),
        replacement=entry.get("replacement"),
        notes=entry.get("notes"),
        structured_outputs=StructuredOutputs(**entry.get("structured_outputs", {})),
    )


def _passed(date: str | None, today: dt.date) -> bool:
    return date is not None and date != "" and dt.date.fromisoformat(date) <= today
