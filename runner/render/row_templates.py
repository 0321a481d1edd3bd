"""Template compilation: a spec value -> a constant, or one generated Python function per row.

Every string of a template is Jinja2, in the one sandboxed environment of
`runner.template_sandbox` (`StrictUndefined`). Each
distinct string is parsed once. Strings without `{{`, `{%` or `{#` are
constants. Strings made only of literal text and plain variables
(`Ticket {{ id }}: {{ body }}`) become f-string expressions with the exact
output of Jinja (`str()` of the value, the parser's own whitespace rules);
anything else (filters, attributes, tags) is rendered by the compiled Jinja
template. The dynamic parts of a structure are generated as one Python
expression (dict and list displays), so a row costs one function call;
constant sub-structures are referenced, not copied.

Generated code never contains user text: literals, variable names, constants
and helpers are passed in the function's namespace; only `repr()` of string
dict keys appears in the source.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from runner.render.image_blocks import ImageFailure

_TEMPLATE_MARKS = ("{{", "{%", "{#")


class Dynamic:
    """A Python expression over `row`, and the row variables it reads (name -> (where, message))."""

    __slots__ = ("code", "names")

    def __init__(self, code: str, names: dict[str, tuple[str, str]]):
        self.code = code
        self.names = names


class Compiler:
    """Compiles spec values; `env=None` keeps strings literal (inline prompts)."""

    def __init__(self, env, images):
        self.env = env
        self.images = images
        self.namespace: dict[str, Any] = {"_missing": _missing}
        self._parsed: dict[str, Any] = {}
        self._names = itertools.count()
        self.variables: dict[str, str] = {}  # variable -> first spec path using it

    # -- public -------------------------------------------------------------

    def value(self, value: Any, where: str) -> Any:
        """A constant, or a `Dynamic` expression."""
        if isinstance(value, str):
            return self.string(value, where) if self.env is not None else value
        if isinstance(value, dict):
            source = value.get("source")
            if (
                value.get("type") == "image"
                and isinstance(source, dict)
                and source.get("type") in ("file", "gcs", "base64")
            ):
                return self._image(value, where)
            return self._display(value.items(), where, "{", "}", dict)
        if isinstance(value, list):
            return self._display(enumerate(value), where, "[", "]", list)
        return value

    def column(self, name: str, where: str) -> Dynamic:
        """The value of one column as a custom_id: a string, or an integer written out."""
        code = f"{self._bind('f', _column_id)}(row[{self._bind('n', name)}], {self._bind('c', where)})"
        return Dynamic(code, {name: (where, f"the row has no column {name!r}")})

    def string(self, text: str, where: str) -> Any:
        if not any(mark in text for mark in _TEMPLATE_MARKS):
            return text
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = self._parsed[text] = self._parse(text, where)
        kind, payload, names = parsed
        for name in names:
            self.variables.setdefault(name, where)
        if kind == "const":
            return payload
        if kind == "jinja":
            return Dynamic(f"{self._bind('j', _jinja_call(payload, where))}(row)", {})
        pieces = []
        for is_var, text_or_name in payload:
            if not is_var:
                pieces.append("{" + self._bind("l", text_or_name) + "}")
            elif text_or_name == "row":
                pieces.append("{row!s}")
            else:
                pieces.append("{row[" + self._bind("n", text_or_name) + "]!s}")
        return Dynamic(
            "f'" + "".join(pieces) + "'",
            {n: (where, f"undefined variable {n!r}") for n in names if n != "row"},
        )

    def function(self, dynamic: Dynamic):
        """`build(row)` for an expression; a missing variable raises a located `ImageFailure`."""
        names = self._bind("v", dynamic.names)
        source = (
            "def build(row):\n"
            f"    try:\n        return {dynamic.code}\n"
            f"    except KeyError:\n        _missing(row, {names})\n        raise\n"
        )
        exec(compile(source, "<claude-jobs template>", "exec"), self.namespace)
        return self.namespace.pop("build")

    def namespace_constant(self, value: Any) -> str:
        """The name under which generated code sees `value` (shared, never copied)."""
        return self._bind("c", value)

    def check_variables(self, columns: list[str] | None) -> None:
        """Fail before the first row when a template names a column the source does not have."""
        if columns is None or self.env is None:
            return
        known = set(columns) | {"row"} | set(self.env.globals)
        for name, where in self.variables.items():
            if name not in known:
                raise ImageFailure(
                    where,
                    f"undefined variable {name!r}: the source has no such column",
                    "columns are: " + ", ".join(columns),
                )

    # -- structures -----------------------------------------------------------

    def _bind(self, prefix: str, value: Any) -> str:
        name = f"_{prefix}{next(self._names)}"
        self.namespace[name] = value
        return name

    def _display(self, items, where: str, open_: str, close: str, kind: type) -> Any:
        compiled = []
        for key, item in items:
            path = f"{where}.{key}" if kind is dict else f"{where}[{key}]"
            compiled.append((key, self.value(item, path)))
        if not any(isinstance(v, Dynamic) for _, v in compiled):
            return kind(compiled) if kind is dict else [v for _, v in compiled]
        parts: list[str] = []
        names: dict[str, tuple[str, str]] = {}
        for key, item in compiled:
            if isinstance(item, Dynamic):
                code = item.code
                for name, info in item.names.items():
                    names.setdefault(name, info)
            else:
                code = self._bind("c", item)
            if kind is dict:
                key_code = repr(key) if type(key) is str else self._bind("k", key)
                code = f"{key_code}: {code}"
            parts.append(code)
        return Dynamic(open_ + ", ".join(parts) + close, names)

    def _image(self, block: dict, where: str) -> Any:
        source = block["source"]
        kind = source["type"]
        field = {"file": "path", "gcs": "uri", "base64": "data"}[kind]
        ref_where = f"{where}.source.{field}"
        ref = self.value(source.get(field, ""), ref_where)
        media = self.value(source.get("media_type"), f"{where}.source.media_type")
        rest = {k: v for k, v in block.items() if k != "source"}
        load = self.images.load
        rest_value = self.value(rest, where)
        rest_code = rest_value.code if isinstance(rest_value, Dynamic) else self._bind("c", rest_value)
        names = dict(getattr(rest_value, "names", {}))
        if not isinstance(ref, Dynamic) and not isinstance(media, Dynamic):
            loaded = load(kind, ref, media, ref_where)
            if not isinstance(rest_value, Dynamic):
                return {**rest_value, "source": loaded}
            call = self._bind("c", loaded)
        else:
            for part in (ref, media):
                names.update(getattr(part, "names", {}))
            ref_code = ref.code if isinstance(ref, Dynamic) else self._bind("c", ref)
            media_code = media.code if isinstance(media, Dynamic) else self._bind("c", media)
            self.images.templated = True
            call = (
                f"{self._bind('i', load)}({self._bind('c', kind)}, {ref_code}, {media_code}, "
                f"{self._bind('c', ref_where)})"
            )
        return Dynamic("{**" + rest_code + ", 'source': " + call + "}", names)

    def _parse(self, text: str, where: str):
        from jinja2 import TemplateSyntaxError, meta, nodes

        try:
            tree = self.env.parse(text)
        except TemplateSyntaxError as exc:
            raise ImageFailure(
                where,
                f"template syntax error: {exc.message}",
                "see docs/templates.md for the template syntax",
            ) from None
        names = sorted(meta.find_undeclared_variables(tree))
        parts = _fast_parts(tree, nodes, self.env.globals)
        if parts is None:
            return "jinja", self.env.from_string(tree), names
        if not any(is_var for is_var, _ in parts):
            return "const", "".join(text for _, text in parts), names
        return "fast", parts, names


def _fast_parts(tree, nodes, globals_) -> list[tuple[bool, str]] | None:
    """`[(is_variable, text)]` for templates made only of literals and plain names, else None."""
    if not tree.body:
        return []
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append((False, node.data))
        elif isinstance(node, nodes.Const) and type(node.value) in (str, int, float):
            parts.append((False, str(node.value)))
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in globals_:
            parts.append((True, node.name))
        else:
            return None
    return parts


def _column_id(value: Any, where: str) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise ImageFailure(where, f"custom_id column value {value!r} is not a string or an integer")


def _missing(row: dict, names: dict[str, tuple[str, str]]) -> None:
    for name, (where, message) in names.items():
        if name not in row:
            raise ImageFailure(where, message, "the row's columns are: " + ", ".join(map(str, row)))


def _jinja_call(template, where: str):
    render = template.render

    def call(row):
        try:
            return render(row, row=row)
        except Exception as exc:
            raise _template_failure(exc, where) from None

    return call


def _template_failure(exc: Exception, where: str) -> Exception:
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    from runner.template_sandbox import TemplateLimit

    if isinstance(exc, ImageFailure):
        return exc
    if isinstance(exc, UndefinedError):
        match = re.fullmatch(r"'(.+)' is undefined", exc.message or "")
        text = f"undefined variable {match.group(1)!r}" if match else f"undefined: {exc.message}"
        return ImageFailure(where, text, "every variable must be a column of the row (or `row`)")
    if isinstance(exc, TemplateLimit):
        return ImageFailure(where, f"template too costly: {exc}", "see the limits in docs/templates.md")
    if isinstance(exc, SecurityError):
        return ImageFailure(where, f"unsafe template operation: {exc}")
    return ImageFailure(where, f"template error: {type(exc).__name__}: {exc}")
