"""Templates: Jinja2 (sandboxed) syntax, and variables that exist in the source's columns.

Only a local source can be looked at during validation; its header (CSV) or
first line (JSONL) gives the columns, and the first row lets templated image
paths be checked. Remote sources are checked when requests are rendered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.spec.context import Context
from runner.spec.findings import Finding
from runner.spec.image_checks import check_image_file, image_sources, is_templated
from runner.spec.rows import first_row
from runner.spec.uris import ROW_FORMATS
from runner.template_sandbox import TemplateLimit, template_environment

ROW_VARIABLE = "row"


def template_strings(template: dict) -> Iterator[tuple[tuple, str]]:
    """(path, text) of every templated string: all of the block but `source` and `custom_id_column`."""
    for key, value in template.items():
        if key not in ("source", "custom_id_column"):
            yield from _strings(value, ("template", key))


def _strings(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


_PLAIN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def variables(env, text: str) -> set[str]:
    """The variables a template reads. Raises TemplateSyntaxError.

    Text made only of literals and `{{ name }}` (nearly every template) needs no
    parse; anything else is parsed, and names stored by `for`/`set` are not
    counted (cheaper than jinja2.meta, which generates code).
    """
    from jinja2 import TemplateSyntaxError, nodes

    if "{%" not in text and "{#" not in text:
        rest = _PLAIN.sub("", text)
        if "{{" not in rest and "}}" not in rest:
            return set(_PLAIN.findall(text))
    ast = env.parse(text)
    if next(ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)), None):
        raise TemplateSyntaxError("templates cannot extend, include or import other templates", 1)
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateSyntaxError(f"no {kind} named {node.name!r}", node.lineno)
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"} - stored


def check_template(ctx: Context) -> None:
    template = ctx.data.get("template")
    if not isinstance(template, dict):
        return
    from jinja2 import TemplateSyntaxError

    env = template_environment()
    used: list[tuple[tuple, str]] = []
    for path, text in template_strings(template):
        if not is_templated(text) and "{#" not in text:
            continue
        try:
            names = variables(env, text)
        except TemplateSyntaxError as exc:
            _syntax_error(ctx, path, exc)
            continue
        used += [(path, name) for name in sorted(names)]
    custom_id = template.get("custom_id")
    if isinstance(custom_id, str) and custom_id and not is_templated(custom_id):
        ctx.error(
            ("template", "custom_id"),
            f"custom_id {custom_id!r} would be the same for every row",
            "template.custom-id",
            "use a template such as ticket-{{ id }}, or custom_id_column",
        )
    source = template.get("source")
    first = first_row(ctx, ("template", "source"), source, ROW_FORMATS) if isinstance(source, str) else None
    if first is None:
        return
    columns = list(first)
    allowed = set(columns) | {ROW_VARIABLE} | set(env.globals)
    shown = ", ".join(columns) or "none"
    for path, name in used:
        if name not in allowed:
            ctx.error(
                path,
                f"template variable {name!r} is not a column of {source}",
                "template.variable",
                f"columns: {shown}",
            )
    column = template.get("custom_id_column")
    if isinstance(column, str) and column not in columns:
        ctx.error(
            ("template", "custom_id_column"),
            f"{column!r} is not a column of {source}",
            "template.column",
            f"columns: {shown}",
        )
    if not any(f.rule.startswith("template.") for f in ctx.findings):
        _check_first_row_costs(ctx, template, first)
        _check_first_row_images(ctx, first)


def _check_first_row_costs(ctx: Context, template: dict, row: dict[str, Any]) -> None:
    """Each template rendered with the first row stays within the sandbox's bounds (time, sizes,
    no changes to the row), so `validate` catches what would stop `plan` and `run`. Other
    rendering errors are left to `run`, which names the row."""
    from jinja2.exceptions import SecurityError

    env = template_environment()
    for path, text in template_strings(template):
        if not is_templated(text):
            continue
        try:
            env.from_string(text).render({**row, ROW_VARIABLE: dict(row)})
        except TemplateLimit as exc:
            ctx.error(path, f"template too costly with the first row: {exc}", "template.limit")
        except SecurityError as exc:
            ctx.error(path, f"unsafe template operation: {exc}", "template.unsafe")
        except Exception:  # undefined names, filters' own errors: run locates them per row
            continue


def _syntax_error(ctx: Context, path: tuple, exc) -> None:
    """Point at the template's own line when the string is a literal block (`|`), else at the string."""
    lineno = exc.lineno or 1
    line, column = ctx.loaded.mark(path)
    source_lines = ctx.loaded.text.split("\n")
    opener = source_lines[line - 1][column - 1 : column] if line <= len(source_lines) else ""
    if opener == "|" and line + lineno <= len(source_lines):
        target = source_lines[line + lineno - 1]
        at = (line + lineno, len(target) - len(target.lstrip()) + 1)
        ctx.findings.append(
            Finding(*at, tuple(path), f"template syntax error: {exc.message}", "template.syntax")
        )
        return
    where = f" (line {lineno} of the template)" if lineno > 1 else ""
    ctx.error(path, f"template syntax error: {exc.message}{where}", "template.syntax")


def _check_first_row_images(ctx: Context, row: dict[str, Any]) -> None:
    """Templated image paths, rendered with the first row, must name real images."""
    env = template_environment()
    for path, source, in_template in image_sources(ctx):
        value = source.get("path")
        if not (
            in_template and source.get("type") == "file" and isinstance(value, str) and is_templated(value)
        ):
            continue
        try:
            rendered = env.from_string(value).render({**row, ROW_VARIABLE: row})
        except Exception as exc:
            ctx.error(
                path + ("path",), f"cannot render {value!r} with the first row: {exc}", "template.render"
            )
            continue
        declared = source.get("media_type") if isinstance(source.get("media_type"), str) else None
        check_image_file(ctx, path + ("path",), rendered, declared, detail=" (from the first row)")
