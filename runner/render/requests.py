"""JobSpec (+ source rows) -> `Request(custom_id, body)`, lazily and in bounded memory.

Three inputs: inline `prompts`, a `template` over the rows of a source, or
`prepared` rows already shaped `{"custom_id", "request"}`. A body is the
Anthropic Messages body without `model`: `anthropic_version`, the spec's
request defaults, per-prompt/template overrides, then `messages`.

Templates are compiled once, before the first row (see `runner.render.row_templates`):
Jinja2 in a sandbox, undefined variables are errors, strings without tags are
constants. Only the parts of a body that depend on the row are built per row;
constant sub-structures (tools, system blocks, images) are *shared* between
bodies, so consumers must treat bodies as read-only (serialize them, never
mutate them).

Errors are `SpecError`s located at the spec path (`$.template.messages[0].content`)
or the source row (`data/tickets.csv:57`); rendering errors surface during
iteration, so exhaust the iterator (or count it first) when all-or-nothing matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.clients import Target
from runner.errors import SpecError
from runner.paths import shown
from runner.records import Request
from runner.render.custom_ids import UniqueIds, check_custom_id, id_ok
from runner.render.image_blocks import ImageFailure, ImageRefs, Images
from runner.render.row_templates import Compiler, Dynamic
from runner.spec.model import JobSpec, SourceRef, Template
from runner.template_sandbox import template_environment

DEFAULT_ANTHROPIC_VERSION = "vertex-2023-10-16"


def render_requests(spec: JobSpec, target: Target | None = None) -> Iterator[Request]:
    """Every request of `spec`, in input order; templates compile (and fail) before this returns."""
    return _render(spec, target, Images(spec, target))


def referenced_images(spec: JobSpec, target: Target | None = None) -> list[tuple[str, str]]:
    """Sorted distinct `("file", resolved path)` / `("gcs", uri)` images the render would read."""
    images = ImageRefs(spec, target)
    requests = _render(spec, target, images)  # compiling records the static images
    if images.templated:  # paths vary by row: one pass over the rows
        for _ in requests:
            pass
    return sorted(images.refs)


def _render(spec: JobSpec, target: Target | None, images) -> Iterator[Request]:
    if spec.template is not None:
        return _templated(spec, spec.template, target, images)
    if spec.prepared is not None:
        return _prepared(spec, spec.prepared, target)
    return _inline(spec, images)


def _head(spec: JobSpec) -> dict[str, Any]:
    return {"anthropic_version": DEFAULT_ANTHROPIC_VERSION, **spec.request, **answer_keys(spec)}


def answer_keys(spec: JobSpec) -> dict[str, Any]:
    """What asks for a typed answer (`output.schema`): `output_config.format`, or a forced tool.

    The schema goes as Claude takes it (`wire_schema`: constraints it cannot enforce are
    moved into descriptions); every answer is checked against the full schema later.
    """
    output = spec.output
    if output.schema is None:
        return {}
    from runner.spec.answer_schema import TOOL_NAME, wire_schema

    schema = wire_schema(output.schema)
    if output.method == "tool":
        tool: dict[str, Any] = {
            "name": TOOL_NAME,
            "description": "Record the answer. Call this exactly once with the complete answer.",
            "input_schema": schema,
        }
        if output.strict_tool:
            tool["strict"] = True
        return {
            "tools": [*spec.request.get("tools", ()), tool],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
        }
    config = dict(spec.request.get("output_config") or {})
    config["format"] = {"type": "json_schema", "schema": schema}
    return {"output_config": config}


def _located(spec: JobSpec, failure: ImageFailure, location: str | None) -> SpecError:
    """`jobs/x.yaml:12:7: $.template…: message in data/rows.csv:3`: the spec place, then the row."""
    message = f"{failure.message} in {location}" if location else failure.message
    return SpecError(message, where=_in_spec(spec, failure.where), hint=failure.hint)


def _in_spec(spec: JobSpec, where: str) -> str:
    """A `$.json.path` of the spec prefixed with the file and line:column, as validation writes it.

    The spec is parsed again only here, on the way to an error, so rendering keeps no marks.
    """
    if not where.startswith("$"):
        return where
    from runner.spec.findings import json_path
    from runner.spec.yamlload import load_yaml

    marks = {json_path(path): mark for path, mark in load_yaml(spec.text.encode()).values.items()}
    probe = where
    while probe not in marks and probe != "$":  # the nearest written ancestor
        probe = _PARENT.sub("", probe) or "$"
    line, column = marks.get(probe, (1, 1))
    return f"{shown(spec.path)}:{line}:{column}: {where}"


_PARENT = re.compile(r"(\.[^.\[\]]+|\[[^\]]*\])$")


def kept_values(row: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """A source row's kept columns (`output.keep`) as JSON values: dates and decimals as text."""
    out = {}
    for name in keep:
        value = row.get(name)
        if value is not None and not isinstance(value, (str, int, float, bool, dict, list)):
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        out[name] = value
    return out


# -- inline prompts -------------------------------------------------------------


def _inline(spec: JobSpec, images) -> Iterator[Request]:
    compiler = Compiler(None, images)
    prompts = spec.prompts or ()
    bodies = []
    for i, prompt in enumerate(prompts):
        where = f"$.prompts[{i}]"
        if type(prompt.custom_id) is not str or not id_ok(prompt.custom_id):
            check_custom_id(prompt.custom_id, _in_spec(spec, f"{where}.custom_id"))  # parses: only here
        try:
            messages = compiler.value(prompt.messages, f"{where}.messages")
        except ImageFailure as failure:
            raise _located(spec, failure, None) from None
        bodies.append({**_head(spec), **prompt.overrides, "messages": messages})
    unique = UniqueIds(
        lambda: ((p.custom_id, i) for i, p in enumerate(prompts)),
        lambda i: f"$.prompts[{i}].custom_id",
    )

    def requests() -> Iterator[Request]:
        try:
            for i, (prompt, body) in enumerate(zip(prompts, bodies)):
                unique.add(prompt.custom_id, i)
                yield Request(prompt.custom_id, body)
            unique.finish()
        except SpecError as exc:  # the duplicate's place in the spec file, as validate writes it
            raise SpecError(exc.message, where=_in_spec(spec, exc.where or "$"), hint=exc.hint) from None

    return requests()


# -- prepared requests ----------------------------------------------------------


def _prepared(spec: JobSpec, prepared: SourceRef, target: Target | None) -> Iterator[Request]:
    import orjson

    from runner.dataio.sources import open_rows

    source = open_rows(prepared, target)
    unique = UniqueIds(lambda: ((row.get("custom_id"), n) for n, row in source.numbered()), source.locate)
    answer = answer_keys(spec)
    keep = tuple(spec.output.keep)

    def requests() -> Iterator[Request]:
        for n, row in source.numbered():
            body = row.get("request")
            if type(body) is str:
                try:
                    body = orjson.loads(body)
                except orjson.JSONDecodeError:
                    body = None
            if type(body) is not dict or type(body.get("messages")) is not list:
                raise SpecError(
                    "'request' must be a Messages body object with 'messages'",
                    where=source.locate(n),
                    hint='prepared rows look like {"custom_id": "a-1", "request": '
                    '{"messages": [...], "max_tokens": 100}}',
                )
            custom_id = check_custom_id(row.get("custom_id"), source.locate(n))
            body.pop("model", None)  # the model goes in the URL on Vertex
            if "anthropic_version" not in body:
                body["anthropic_version"] = DEFAULT_ANTHROPIC_VERSION
            if answer:
                body.update(answer)
            unique.add(custom_id, n)
            yield Request(custom_id, body, kept_values(row, keep) if keep else None)
        unique.finish()

    return requests()


# -- templates ------------------------------------------------------------------


def _templated(spec: JobSpec, template: Template, target: Target | None, images) -> Iterator[Request]:
    from runner.dataio.sources import open_rows

    source = open_rows(template.source, target)
    compiler = Compiler(template_environment(), images)
    try:
        if template.custom_id_column is not None:
            custom_id = compiler.column(template.custom_id_column, "$.template.custom_id_column")
        else:
            custom_id = compiler.string(template.custom_id_template or "", "$.template.custom_id")
        # Request defaults stay literal; the template's own keys are templates.
        templated = compiler.value({**template.overrides, "messages": template.messages}, "$.template")
        body: Dynamic | dict[str, Any]
        if isinstance(templated, Dynamic):
            body = Dynamic(
                "{**" + compiler.namespace_constant(_head(spec)) + ", " + templated.code[1:], templated.names
            )
        else:
            body = {**_head(spec), **templated}
    except ImageFailure as failure:
        raise _located(spec, failure, None) from None
    try:
        compiler.check_variables(source.columns())
    except ImageFailure as failure:
        raise _located(spec, failure, source.name) from None
    # One generated function per row: (custom_id, body), sharing every constant part.
    pair = Dynamic(
        f"({_code(compiler, custom_id)}, {_code(compiler, body)})",
        {**getattr(custom_id, "names", {}), **getattr(body, "names", {})},
    )
    build = compiler.function(pair)
    id_only = compiler.function(custom_id) if isinstance(custom_id, Dynamic) else None
    unique = UniqueIds(lambda: _rescan_ids(source, id_only, custom_id), source.locate)
    return _template_rows(spec, source, build, unique)


def _code(compiler: Compiler, value: Any) -> str:
    return value.code if isinstance(value, Dynamic) else compiler.namespace_constant(value)


def _rescan_ids(source, id_only, constant) -> Iterator[tuple[Any, int]]:
    for n, row in source.numbered():
        try:
            yield (id_only(row) if id_only else constant), n
        except ImageFailure:
            yield None, n


def _template_rows(spec: JobSpec, source, build, unique: UniqueIds) -> Iterator[Request]:
    recent, window, archive = unique.recent, unique.window, unique.archive
    keep = tuple(spec.output.keep)
    n = 0
    try:
        for n, row in source.numbered():
            custom_id, body = build(row)
            if not id_ok(custom_id):
                check_custom_id(custom_id, source.locate(n))
            if custom_id in recent:
                unique.add(custom_id, n)  # raises, naming both rows
            recent[custom_id] = n
            if len(recent) >= window:
                archive()
            yield Request(custom_id, body, kept_values(row, keep) if keep else None)
    except ImageFailure as failure:  # templates and images raise these; add the row
        raise _located(spec, failure, source.locate(n)) from None
    unique.finish()
