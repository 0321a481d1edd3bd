"""A valid document -> the `JobSpec` every later step receives (defaults filled in, durations in seconds)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runner.spec.context import DEFAULT_REGION
from runner.spec.model import (
    BatchOptions,
    Budget,
    InlinePrompt,
    JobSpec,
    OutputSpec,
    SourceRef,
    StreamOptions,
    Template,
)
from runner.spec.rules import DEFAULT_MAX_TOKENS
from runner.spec.uris import classify

ANTHROPIC_VERSION = "vertex-2023-10-16"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd]?)$")
_PROMPT_KEYS = {"custom_id", "messages"}
_TEMPLATE_KEYS = {"source", "custom_id", "custom_id_column", "messages"}


def seconds(value: int | str) -> float:
    """`90`, `"90"`, `"90s"`, `"15m"`, `"24h"`, `"2d"` -> seconds."""
    if isinstance(value, int):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def build_spec(data: dict[str, Any], path: Path, text: str, warnings: tuple[str, ...] = ()) -> JobSpec:
    request = dict(data.get("request") or {})
    request.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    request.setdefault("anthropic_version", ANTHROPIC_VERSION)
    spec_dir = path.parent
    return JobSpec(
        path=path,
        text=text,
        name=data["name"],
        model=data["model"].strip(),
        mode=data["mode"],
        destination=data["destination"],
        region=data.get("region", DEFAULT_REGION),
        description=data.get("description", ""),
        labels=dict(data.get("labels") or {}),
        request=request,
        prompts=_prompts(data.get("prompts")),
        template=_template(data.get("template"), spec_dir),
        prepared=source_ref(data["prepared"], spec_dir) if "prepared" in data else None,
        stream=_stream(data.get("stream") or {}),
        batch=_batch(data.get("batch") or {}),
        budget=Budget(**(data.get("budget") or {})),
        output=_output(data.get("output") or {}, data["model"].strip()),
        warnings=warnings,
    )


def source_ref(value: str | dict[str, Any], spec_dir: Path) -> SourceRef:
    if isinstance(value, dict):
        return SourceRef(kind="query", uri=value["query"], project=value.get("project"))
    kind = classify(value)
    if kind == "gcs":
        return SourceRef(kind="gcs", uri=value)
    if kind == "bigquery":
        return SourceRef(kind="bigquery", uri=value)
    return SourceRef(kind="file", uri=value, path=(spec_dir / value).resolve())


def _prompts(prompts: list[dict[str, Any]] | None) -> tuple[InlinePrompt, ...] | None:
    if prompts is None:
        return None
    return tuple(
        InlinePrompt(
            custom_id=p["custom_id"],
            messages=p["messages"],
            overrides={k: v for k, v in p.items() if k not in _PROMPT_KEYS},
        )
        for p in prompts
    )


def _template(template: dict[str, Any] | None, spec_dir: Path) -> Template | None:
    if template is None:
        return None
    return Template(
        source=source_ref(template["source"], spec_dir),
        messages=template["messages"],
        custom_id_template=template.get("custom_id"),
        custom_id_column=template.get("custom_id_column"),
        overrides={k: v for k, v in template.items() if k not in _TEMPLATE_KEYS},
    )


def _output(block: dict[str, Any], model: str) -> OutputSpec:
    schema = block.get("schema")
    keep = tuple(block.get("keep") or ())
    if schema is None:
        return OutputSpec(keep=keep)
    from runner.spec.catalog import catalog

    info = catalog().get(model)
    features = info.structured_outputs if info is not None else None
    return OutputSpec(
        schema=schema,
        keep=keep,
        method=features.method if features else "format",
        strict_tool=bool(features and features.strict_tools),
    )


def _stream(block: dict[str, Any]) -> StreamOptions:
    values = dict(block)
    if "request_timeout" in values:
        values["request_timeout"] = seconds(values["request_timeout"])
    return StreamOptions(**values)


def _batch(block: dict[str, Any]) -> BatchOptions:
    values = dict(block)
    for key in ("poll_interval", "pending_timeout", "wait_timeout", "outage_timeout"):
        if key in values:
            values[key] = seconds(values[key])
    if values.get("input") and not values.get("output"):
        # Same place as the input: Vertex writes a new table into a dataset, or a new
        # prediction-model-<time>/ folder under a prefix, so nothing is overwritten.
        values["output"] = values["input"]
    return BatchOptions(**values)
