"""Rules a schema cannot express: the model catalog, regions and modes, blocks, references, prompts."""

from __future__ import annotations

import difflib
from typing import Any, TypeGuard

from runner.spec.catalog import ModelInfo, catalog
from runner.spec.context import Context
from runner.spec.uris import (
    BQ_DATASET,
    BQ_TABLE,
    GCS_OBJECT,
    GCS_PREFIX,
    REQUEST_FORMATS,
    ROW_FORMATS,
    check_platform,
    check_reference,
    classify,
)

DEFAULT_MAX_TOKENS = 1024


def check_model(ctx: Context) -> ModelInfo | None:
    """The model exists (pinned where it must be), is not retired, and runs in the region and mode."""
    model = ctx.data.get("model")
    if not isinstance(model, str) or not model.strip():
        return None
    cat = catalog()
    info = cat.get(model)
    if info is None:
        _unknown_model(ctx, model)
        return None
    status = info.effective_status()
    instead = f"use {info.replacement}" if info.replacement else None
    if status == "retired":
        when = f" on {info.retirement_date}" if info.retirement_date else ""
        ctx.warn(("model",), f"{info.id} was retired{when}; requests to it fail", "model.retired", instead)
    elif status == "deprecated":
        when = f" on {info.retirement_date}" if info.retirement_date else " soon"
        ctx.warn(
            ("model",), f"{info.id} is deprecated and will be retired{when}", "model.deprecated", instead
        )
    region, mode = ctx.region, ctx.mode
    where = ("region",) if "region" in ctx.data else ("model",)
    if mode == "batch" and region == "global":
        ctx.error(
            where,
            "batch prediction needs a regional location, not 'global'",
            "region.batch-global",
            "set region: us-east5",
        )
    elif region not in info.regions:
        ctx.error(
            where,
            f"{info.id} is not available in {region}",
            "model.region",
            "available in: " + ", ".join(info.regions),
        )
    elif mode == "batch" and region not in info.batch_regions:
        batch = ", ".join(info.batch_regions) or "no region"
        ctx.error(
            where,
            f"{info.id} does not support batch prediction in {region}",
            "model.batch-region",
            f"batch prediction works in: {batch}",
        )
    return info


def _unknown_model(ctx: Context, model: str) -> None:
    cat = catalog()
    name, _, version = model.partition("@")
    versions = cat.versions_of(name)
    if versions and versions[0].requires_version and not version:
        newest = versions[0]
        hint = f"use {newest.id}"
        if newest.effective_status() != "current" and newest.replacement:
            hint += f"; it is {newest.effective_status()}, so prefer {newest.replacement}"
        ctx.error(("model",), f"{name} needs a pinned @version", "model.unpinned", hint)
    elif versions and versions[0].requires_version:
        ctx.error(
            ("model",),
            f"{model!r} is not a known version of {name}",
            "model.version",
            "use " + " or ".join(v.id for v in versions),
        )
    elif versions:
        ctx.error(("model",), f"{name} takes no @version", "model.version", f"use {name}")
    else:
        ctx.error(("model",), f"unknown model {model!r}", "model.unknown", _suggest(model))


def _suggest(model: str) -> str:
    """The closest current model, within the family the id names (haiku, sonnet, opus) if any."""
    current = [m for m in catalog().models if m.effective_status() == "current"]
    family = next((f for f in ("haiku", "sonnet", "opus") if f in model.lower()), None)
    same_family = [m.id for m in current if m.family == family]
    close = (
        difflib.get_close_matches(model, same_family, n=1, cutoff=0)
        if same_family
        else difflib.get_close_matches(model, [m.id for m in current], n=1, cutoff=0.6)
    )
    return f"did you mean {close[0]}?" if close else "see runner/spec/models.yaml for the models"


def check_blocks(ctx: Context) -> None:
    """stream/batch blocks match the mode; batch knows where to stage and where Vertex writes."""
    mode, data = ctx.mode, ctx.data
    if mode == "batch" and "stream" in data:
        ctx.error(
            ("stream",),
            "a stream block needs mode: stream",
            "mode.stream-block",
            "remove it, or set mode: stream",
            key=True,
        )
    if mode == "stream" and "batch" in data:
        ctx.error(
            ("batch",),
            "a batch block needs mode: batch",
            "mode.batch-block",
            "remove it, or set mode: batch",
            key=True,
        )
    if mode != "batch":
        return
    prepared = data.get("prepared")
    in_place = isinstance(prepared, str) and classify(prepared) in ("gcs", "bigquery")
    batch = data.get("batch")
    if batch is None:
        if in_place:
            ctx.error(
                (),
                "mode: batch needs a batch block with an output",
                "batch.output",
                "add batch: {output: gs://BUCKET/output}",
            )
        else:
            ctx.error(
                (),
                "mode: batch needs a batch block with an input",
                "batch.input",
                "add batch: {input: gs://BUCKET/staging}, where requests are staged",
            )
        return
    if not isinstance(batch, dict):
        return
    if "input" not in batch and not in_place:
        ctx.error(
            ("batch",),
            "batch.input is required",
            "batch.input",
            "where requests are staged: gs://bucket/prefix or bq://project.dataset",
        )
    elif "input" not in batch and "output" not in batch:
        ctx.error(
            ("batch",),
            f"batch.output is required when requests are read in place from {prepared}",
            "batch.output",
            "where Vertex writes predictions: gs://bucket/prefix or bq://project.dataset",
        )


def check_references(ctx: Context) -> None:
    """Destination, prepared requests, the template source and batch locations are well formed."""
    data = ctx.data
    destination = data.get("destination")
    if isinstance(destination, str) and destination:
        ref = check_reference(
            ctx,
            ("destination",),
            destination,
            what="destination",
            allow_file=True,
            gcs=GCS_PREFIX,
            bq=BQ_TABLE,
            formats=(".jsonl",),
            must_exist=False,
        )
        check_platform(ctx, ("destination",), ref)
    prepared = data.get("prepared")
    if isinstance(prepared, str) and prepared:
        ref = check_reference(
            ctx,
            ("prepared",),
            prepared,
            what="source of prepared requests",
            allow_file=True,
            gcs=GCS_OBJECT,
            bq=BQ_TABLE,
            formats=REQUEST_FORMATS,
        )
        check_platform(ctx, ("prepared",), ref)
    source = ctx.get("template", "source")
    if isinstance(source, str) and source:
        ref = check_reference(
            ctx,
            ("template", "source"),
            source,
            what="template source",
            allow_file=True,
            gcs=GCS_OBJECT,
            bq=BQ_TABLE,
            formats=ROW_FORMATS,
        )
        check_platform(ctx, ("template", "source"), ref)
    elif isinstance(source, dict) and isinstance(source.get("project"), str) and ctx.stack:
        if source["project"] != ctx.stack.project:
            ctx.error(
                ("template", "source", "project"),
                f"project {source['project']!r} is not the platform's project {ctx.stack.project!r}",
                "platform.project",
            )
    batch = data.get("batch")
    if isinstance(batch, dict):
        for key in ("input", "output"):
            value = batch.get(key)
            if isinstance(value, str) and value:
                ref = check_reference(
                    ctx,
                    ("batch", key),
                    value,
                    what=f"batch {key}",
                    allow_file=False,
                    gcs=GCS_PREFIX,
                    bq=BQ_DATASET,
                )
                check_platform(ctx, ("batch", key), ref)
    if ctx.stack is not None and ctx.mode == "batch" and ctx.region not in (ctx.stack.region, "global"):
        uses_bq = any(isinstance(v, str) and v.startswith("bq://") for v in _references(data))
        why = ": BigQuery tables must be in the job's region" if uses_bq else ""
        where = ("region",) if "region" in data else ("mode",)
        ctx.error(
            where,
            f"batch jobs must run in the platform's region {ctx.stack.region}, not {ctx.region}{why}",
            "platform.region",
            f"set region: {ctx.stack.region}",
        )


def _references(data: dict) -> list:
    template, batch = _mapping(data.get("template")), _mapping(data.get("batch"))
    return [
        data.get("destination"),
        data.get("prepared"),
        template.get("source"),
        batch.get("input"),
        batch.get("output"),
    ]


def check_prompts(ctx: Context, info: ModelInfo | None) -> None:
    """Unique custom_ids; max_tokens within the model's limit; tool_choice names a tool; budget."""
    defaults = _mapping(ctx.data.get("request"))
    _check_request(ctx, ("request",), defaults, {}, info)
    prompts = ctx.data.get("prompts")
    if isinstance(prompts, list):
        seen: dict[str, int] = {}
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, dict):
                continue
            custom_id = prompt.get("custom_id")
            if isinstance(custom_id, str):
                if custom_id in seen:
                    first = seen[custom_id]
                    line = ctx.loaded.mark(("prompts", first, "custom_id"))[0]
                    ctx.error(
                        ("prompts", index, "custom_id"),
                        f"custom_id {custom_id!r} is already used by prompts[{first}] at line {line}",
                        "prompts.duplicate-id",
                        "custom_ids must be unique within a spec",
                    )
                else:
                    seen[custom_id] = index
            _check_request(ctx, ("prompts", index), prompt, defaults, info)
        max_requests = ctx.get("budget", "max_requests")
        if (
            isinstance(max_requests, int)
            and not isinstance(max_requests, bool)
            and len(prompts) > max_requests
        ):
            ctx.error(
                ("budget", "max_requests"),
                f"{len(prompts)} inline prompts exceed budget.max_requests of {max_requests}",
                "budget.max-requests",
            )
    template = ctx.data.get("template")
    if isinstance(template, dict):
        _check_request(ctx, ("template",), template, defaults, info)


def _check_request(ctx: Context, path: tuple, own: dict, defaults: dict, info: ModelInfo | None) -> None:
    max_tokens = own.get("max_tokens")
    if info is not None and _is_int(max_tokens) and max_tokens > info.max_output_tokens:
        ctx.error(
            path + ("max_tokens",),
            f"{max_tokens} is more than {info.id}'s maximum of {info.max_output_tokens} output tokens",
            "request.max-tokens",
            f"set max_tokens to at most {info.max_output_tokens}",
        )
    budget = own.get("thinking", {}).get("budget_tokens") if isinstance(own.get("thinking"), dict) else None
    effective = max_tokens if _is_int(max_tokens) else defaults.get("max_tokens", DEFAULT_MAX_TOKENS)
    if _is_int(budget) and _is_int(effective) and budget >= effective:
        ctx.error(
            path + ("thinking", "budget_tokens"),
            f"thinking.budget_tokens ({budget}) must be less than max_tokens ({effective})",
            "request.thinking",
        )
    tools = own.get("tools", defaults.get("tools"))
    names = [t.get("name") for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    if "tools" in own and isinstance(tools, list):
        for index, name in enumerate(names):
            if name is not None and names.index(name) != index:
                ctx.error(
                    path + ("tools", index, "name"), f"tool name {name!r} is used twice", "request.tools"
                )
    choice = own.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        if choice["name"] not in names:
            known = ", ".join(n for n in names if isinstance(n, str)) or "no tools are defined"
            ctx.error(
                path + ("tool_choice", "name"),
                f"tool_choice names unknown tool {choice['name']!r}",
                "request.tool-choice",
                f"tools: {known}",
            )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: Any) -> dict:
    """`value` when it is a mapping, else an empty one: the schema reports the wrong type."""
    return value if isinstance(value, dict) else {}
