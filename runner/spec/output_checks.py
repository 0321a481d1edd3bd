"""The `output` block: the answer schema (metaschema, Claude's subset, column names), kept columns,
and whether the model can be asked for a typed answer at all."""

from __future__ import annotations

from typing import Any

from runner.spec.answer_schema import RESULT_COLUMNS, bq_name_problem, column_problems, subset_problems
from runner.spec.catalog import ModelInfo, catalog
from runner.spec.context import Context
from runner.spec.rows import first_row
from runner.spec.uris import REQUEST_FORMATS, ROW_FORMATS

SCHEMA = ("output", "schema")


def check_output(ctx: Context, info: ModelInfo | None) -> None:
    output = ctx.data.get("output")
    if not isinstance(output, dict):
        return
    schema = output.get("schema")
    keep = output.get("keep")
    keep_names = [k for k in keep if isinstance(k, str)] if isinstance(keep, list) else []
    if isinstance(schema, dict) and _metaschema(ctx, schema):
        for path, message, hint in subset_problems(schema):
            ctx.error(SCHEMA + path, message, "output.schema-subset", hint)
        for path, message, hint in column_problems(schema, keep_names):
            ctx.error(SCHEMA + path, message, "output.schema-column", hint)
        if info is not None:
            _check_model(ctx, info)
    if isinstance(keep, list):
        _check_keep(ctx, keep_names)


def _metaschema(ctx: Context, schema: dict[str, Any]) -> bool:
    """Draft 2020-12's own metaschema; False (after one finding) when the schema is not a schema."""
    from jsonschema import Draft202012Validator

    errors = sorted(
        Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema),
        key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
    )
    if not errors:
        return True
    first = errors[0]
    ctx.error(
        SCHEMA + tuple(first.absolute_path),
        f"not a valid JSON Schema: {first.message}",
        "output.schema-metaschema",
        "see https://json-schema.org/draft/2020-12",
    )
    return False


def _check_model(ctx: Context, info: ModelInfo) -> None:
    method = info.structured_outputs.method
    if method is None:
        able = [
            m.id
            for m in catalog().models
            if m.structured_outputs.method and m.effective_status() == "current"
        ]
        ctx.error(
            ("model",),
            f"{info.id} takes neither output_config.format nor a forced tool call, so it cannot give "
            "typed answers",
            "output.model",
            "models that can: " + ", ".join(able),
        )
        return
    blocks: list[tuple[tuple, dict]] = []
    for where in (("request",), ("template",)):
        if isinstance(ctx.get(*where), dict):
            blocks.append((where, ctx.get(*where)))
    prompts = ctx.data.get("prompts")
    for index, prompt in enumerate(prompts if isinstance(prompts, list) else ()):
        if isinstance(prompt, dict):
            blocks.append((("prompts", index), prompt))
    for where, block in blocks:
        if method == "tool" and where != ("request",) and "tools" in block:
            ctx.error(
                where + ("tools",),
                f"{info.id} gets its typed answer through a forced tool call, which these tools would replace",
                "output.conflict",
                "set tools under request:, where the answer tool is added to them",
            )
        if method == "tool" and "tool_choice" in block:
            ctx.error(
                where + ("tool_choice",),
                f"{info.id} gets its typed answer through a forced tool call, so tool_choice is taken",
                "output.conflict",
                "remove tool_choice, or pick a model that takes output_config.format",
            )
        thinking = block.get("thinking")
        if method == "tool" and isinstance(thinking, dict) and thinking.get("type") == "enabled":
            ctx.error(
                where + ("thinking",),
                f"{info.id} gets its typed answer through a forced tool call, which thinking does not allow",
                "output.conflict",
                "disable thinking, or pick a model that takes output_config.format",
            )


def _check_keep(ctx: Context, keep: list[str]) -> None:
    data = ctx.data
    template = data.get("template") if isinstance(data.get("template"), dict) else None
    if template is None and "prepared" not in data:
        ctx.error(
            ("output", "keep"),
            "keep copies source columns, but inline prompts have no source",
            "output.keep",
            "remove keep, or use a template over a source",
        )
        return
    bad: set[int] = set()
    for index, name in enumerate(keep):
        problem = bq_name_problem(name)
        if problem:
            ctx.error(
                ("output", "keep", index), problem, "output.keep", "keep columns whose names BigQuery takes"
            )
            bad.add(index)
        elif name.lower() in RESULT_COLUMNS:
            ctx.error(
                ("output", "keep", index),
                f"kept column {name!r} clashes with a column of every result row",
                "output.keep",
                "the custom_id is always there; keep other columns",
            )
            bad.add(index)
    formats: tuple[str, ...]
    where: tuple[str, ...]
    if template is not None:
        source, formats, where = template.get("source"), ROW_FORMATS, ("template", "source")
    else:
        source, formats, where = data.get("prepared"), REQUEST_FORMATS, ("prepared",)
    if not isinstance(source, str):
        return
    row = first_row(ctx, where, source, formats)
    if row is None:
        return
    columns = list(row)
    for index, name in enumerate(keep):
        if index not in bad and name not in columns:
            ctx.error(
                ("output", "keep", index),
                f"{name!r} is not a column of {source}",
                "output.keep",
                "columns: " + (", ".join(columns) or "none"),
            )
