"""The validated job spec: what every later step (render, executors, plan) receives.

`runner.spec.load_spec(path)` produces a `JobSpec`; nothing downstream reads YAML.
See docs/spec-format.md for the user-facing format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["batch", "stream"]
SourceKind = Literal["file", "gcs", "bigquery", "query"]


@dataclass(frozen=True)
class SourceRef:
    """Where rows (template) or prepared requests come from."""

    kind: SourceKind
    uri: str  # as written: "data/x.csv", "gs://b/o.jsonl", "bq://p.d.t", or the SQL
    path: Path | None = None  # resolved local file (kind == "file")
    project: str | None = None  # BigQuery project for `query`

    @property
    def format(self) -> str | None:
        """`jsonl` or `csv` for files and objects, None for BigQuery."""
        lowered = self.uri.lower()
        if lowered.endswith(".csv"):
            return "csv"
        if lowered.endswith((".jsonl", ".ndjson", ".json")):
            return "jsonl"
        return None


@dataclass(frozen=True)
class InlinePrompt:
    custom_id: str
    messages: list[dict[str, Any]]
    overrides: dict[str, Any] = field(default_factory=dict)  # request keys set on this prompt


@dataclass(frozen=True)
class Template:
    source: SourceRef
    messages: list[dict[str, Any]]  # strings are Jinja2 templates
    custom_id_template: str | None = None  # exactly one of these two
    custom_id_column: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # request keys, strings templated


@dataclass(frozen=True)
class StreamOptions:
    concurrency: int = 8
    requests_per_minute: int | None = None  # None: catalog default for the model
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    max_retries: int = 6
    streaming: bool = True
    request_timeout: float = 600.0


@dataclass(frozen=True)
class BatchOptions:
    input: str | None = None  # gs://bucket/prefix or bq://project.dataset
    output: str | None = None  # defaults to input's kind/location
    max_requests_per_job: int = 100_000
    poll_interval: float = 30.0
    pending_timeout: float = 86_400.0
    wait_timeout: float = 172_800.0
    outage_timeout: float = 1_800.0


@dataclass(frozen=True)
class OutputSpec:
    """Typed results: the answer's JSON Schema, how it is asked for, and the source columns kept."""

    schema: dict[str, Any] | None = None  # as written; None: untyped (a `text` column)
    keep: tuple[str, ...] = ()
    method: Literal["format", "tool"] | None = None  # output_config.format, or a forced tool call
    strict_tool: bool = False  # the forced tool carries strict: true (the model takes it)

    @property
    def typed(self) -> bool:
        return self.schema is not None


@dataclass(frozen=True)
class Budget:
    max_requests: int | None = None
    max_input_tokens: int | None = None


@dataclass(frozen=True)
class JobSpec:
    path: Path  # the spec file
    text: str  # its exact text (part of the revision)
    name: str
    model: str  # as in the URL: "claude-3-5-haiku@20241022"
    mode: Mode
    destination: str  # "results/x.jsonl" | "gs://b/prefix" | "bq://p.d.t"
    region: str = "us-east5"
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)  # defaults, anthropic_version filled in
    prompts: tuple[InlinePrompt, ...] | None = None
    template: Template | None = None
    prepared: SourceRef | None = None
    stream: StreamOptions = field(default_factory=StreamOptions)
    batch: BatchOptions = field(default_factory=BatchOptions)
    budget: Budget = field(default_factory=Budget)
    output: OutputSpec = field(default_factory=OutputSpec)
    warnings: tuple[str, ...] = field(
        default=(), compare=False
    )  # validation warnings (e.g. a deprecated model), one line each

    @property
    def base_dir(self) -> Path:
        """Relative paths in the spec are relative to this folder."""
        return self.path.parent

    def resolve_local(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    @property
    def destination_key(self) -> str:
        """The destination as one string whoever names it: an absolute path for a file,
        `gs://bucket/prefix` without a trailing slash, `bq://project.dataset.table`."""
        return destination_key(self.destination, self.base_dir)


def destination_key(destination: str, base_dir: Path) -> str:
    if destination.startswith("gs://"):
        return destination.rstrip("/")
    if destination.startswith("bq://"):
        return destination
    return (base_dir / destination).resolve().as_posix()
