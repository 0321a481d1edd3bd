"""JobSpec (+ source rows) -> `Request(custom_id, body)`, lazily and in bounded memory.

Three inputs: inline `prompts`, a `template` over the rows of a source, or
`prepared` rows already shaped `{"custom_id", "request"}`. A body is the
Anthropic Messages body without `model`: `anthropic_version`, the spec's
request defaults, per-prompt/template overrides, then `messages`.

Templates are compiled once, before the first row: every string is parsed by
Jinja2 (sandboxed, undefined variables are errors); strings without `{{`/`{%`
are constants, and `literal {{ name }} literal` strings are rendered by plain
concatenation with Jinja's exact semantics. Only the parts of a body that
depend on the row are built per row; constant sub-structures (tools, system
blocks, images) are *shared* between bodies, so consumers must treat bodies as
read-only (serialize them, never mutate them).

Errors are `SpecError`s located at the spec path (`$.template.messages[0].content`)
or the source row (`data/tickets.csv:57`); rendering errors surface during
iteration, so exhaust the iterator (or count it first) when all-or-nothing matters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .clients import Target
from .errors import ClaudeJobsError, SpecError
from .custom_ids import UniqueIds, check_custom_id, id_ok
from .images import Failure, ImageRefs, Images
from .records import Request
from .spec.model import JobSpec

DEFAULT_ANTHROPIC_VERSION = "vertex-2023-10-16"


def render_requests(spec: JobSpec, target: Target | None = None) -> Iterator[Request]:
    """Every request of `spec`, in input order; templates compile (and fail) before this returns."""
    return _render(spec, target, Images(spec, target))


def referenced_images(spec: JobSpec, target: Target | None = None) -> list[tuple[str, str]]:
    """Sorted distinct `("file", resolved path)` / `("gcs", uri)` images the render would read."""
    images = ImageRefs(spec, target)
    for _ in _render(spec, target, images):
        pass
    return sorted(images.refs)


def _render(spec: JobSpec, target: Target | None, images) -> Iterator[Request]:
    if spec.template is not None:
        return _templated(spec, target, images)
    if spec.prepared is not None:
        return _prepared(spec, target)
    return _inline(spec, images)


def _head(spec: JobSpec) -> dict[str, Any]:
    return {"anthropic_version": DEFAULT_ANTHROPIC_VERSION, **spec.request}


def _located(failure: Failure, location: str | None) -> SpecError:
    message = f"{failure.message} in {location}" if location else failure.message
    return SpecError(message, where=failure.where, hint=failure.hint)


# -- inline prompts -------------------------------------------------------------

def _inline(spec: JobSpec, images) -> Iterator[Request]:
    compiler = Compiler(None, images)
    prompts = spec.prompts or ()
    bodies = []
    for i, prompt in enumerate(prompts):
        where = f"$.prompts[{i}]"
        check_custom_id(prompt.custom_id, f"{where}.custom_id")
        try:
            messages = compiler.constant(prompt.messages, f"{where}.messages")
        except Failure as failure:
            raise _located(failure, None) from None
        bodies.append({**_head(spec), **prompt.overrides, "messages": messages})
    unique = UniqueIds(lambda: ((p.custom_id, i) for i, p in enumerate(prompts)),
                       lambda i: f"$.prompts[{i}].custom_id")

    def requests() -> Iterator[Request]:
        for i, (prompt, body) in enumerate(zip(prompts, bodies)):
            unique.add(prompt.custom_id, i)
            yield Request(prompt.custom_id, body)
        unique.finish()

    return requests()


# -- prepared requests ----------------------------------------------------------

def _prepared(spec: JobSpec, target: Target | None) -> Iterator[Request]:
    from .sources import open_rows
    import orjson

    source = open_rows(spec.prepared, target)
    unique = UniqueIds(lambda: ((row.get("custom_id"), n) for n, row in source.numbered()),
                       source.locate)

    def requests() -> Iterator[Request]:
        for n, row in source.numbered():
            custom_id = row.get("custom_id")
            body = row.get("request")
            if type(body) is str:
                try:
                    body = orjson.loads(body)
                except orjson.JSONDecodeError:
                    body = None
            if type(body) is not dict or type(body.get("messages")) is not list:
                raise SpecError("'request' must be a Messages body object with 'messages'",
                                where=source.locate(n),
                                hint='prepared rows look like {"custom_id": "a-1", "request": '
                                     '{"messages": [...], "max_tokens": 100}}')
            check_custom_id(custom_id, source.locate(n))
            body.pop("model", None)          # the model goes in the URL on Vertex
            if "anthropic_version" not in body:
                body["anthropic_version"] = DEFAULT_ANTHROPIC_VERSION
            unique.add(custom_id, n)
            yield Request(custom_id, body)
        unique.finish()

    return requests()


# -- templates ------------------------------------------------------------------

def _templated(spec: JobSpec, target: Target | None, images) -> Iterator[Request]:
    from .sources import open_rows

    template = spec.template
    source = open_rows(template.source, target)
    compiler = Compiler(_environment(), images)
    try:
        if template.custom_id_column is not None:
            column = template.custom_id_column
            custom_id_of = _column_getter(column, "$.template.custom_id_column")
        else:
            custom_id_of = compiler.string(template.custom_id_template or "",
                                           "$.template.custom_id")
            if not callable(custom_id_of):
                constant_id = custom_id_of
                custom_id_of = lambda row: constant_id  # noqa: E731 - then the 2nd row is a duplicate
        head = _head(spec)
        dynamic: list[tuple[str, Callable]] = []
        for key, value in template.overrides.items():
            compiled = compiler.value(value, f"$.template.{key}")
            if callable(compiled):
                dynamic.append((key, compiled))
            else:
                head[key] = compiled
        messages = compiler.value(template.messages, "$.template.messages")
    except Failure as failure:
        raise _located(failure, None) from None
    compiler.check_variables(source.columns())
    if callable(messages):
        dynamic.append(("messages", messages))
    else:
        head["messages"] = messages
    unique = UniqueIds(lambda: ((_rescan_id(custom_id_of, row), n) for n, row in source.numbered()),
                       source.locate)
    copy = head.copy

    def requests() -> Iterator[Request]:
        add = unique.add
        n = 0
        try:
            for n, row in source.numbered():
                custom_id = custom_id_of(row)
                if not id_ok(custom_id):
                    check_custom_id(custom_id, source.locate(n))
                add(custom_id, n)
                body = copy()
                for key, build in dynamic:
                    body[key] = build(row)
                yield Request(custom_id, body)
        except Failure as failure:
            raise _located(failure, source.locate(n)) from None
        except ClaudeJobsError:
            raise
        except Exception as exc:  # a filter or test raised inside a template
            raise SpecError(f"template error: {type(exc).__name__}: {exc}",
                            where=source.locate(n), hint="check the template's filters and "
                            "expressions against this row") from None
        unique.finish()

    return requests()


def _rescan_id(custom_id_of: Callable, row: dict[str, Any]) -> str | None:
    try:
        return custom_id_of(row)
    except Failure:
        return None


def _column_getter(column: str, where: str) -> Callable[[dict[str, Any]], str]:
    def custom_id_of(row: dict[str, Any]) -> str:
        try:
            value = row[column]
        except KeyError:
            raise Failure(where, f"the row has no column {column!r}") from None
        return value if type(value) is str else str(value)

    return custom_id_of


def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class Compiler:
    """Turns a spec value into a constant, or a `build(row)` callable for what varies by row."""

    def __init__(self, env, images):
        self.env = env
        self.images = images
        self._strings: dict[str, Any] = {}
        self.variables: dict[str, str] = {}      # variable -> first spec path using it

    def constant(self, value: Any, where: str) -> Any:
        """An inline value: strings stay literal, only images are resolved."""
        env, self.env = self.env, None
        try:
            return self.value(value, where)
        finally:
            self.env = env

    def value(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return self.string(value, where) if self.env is not None else value
        if isinstance(value, dict):
            if value.get("type") == "image" and isinstance(value.get("source"), dict):
                return self._image(value, where)
            return self._dict(value, where)
        if isinstance(value, list):
            return self._list(value, where)
        return value

    def _dict(self, value: dict, where: str) -> Any:
        const: dict[str, Any] = {}
        dynamic: list[tuple[str, Callable]] = []
        for key, item in value.items():
            compiled = self.value(item, f"{where}.{key}")
            if callable(compiled):
                dynamic.append((key, compiled))
            const[key] = None if callable(compiled) else compiled
        if not dynamic:
            return const
        copy = const.copy

        def build(row):
            out = copy()
            for key, fn in dynamic:
                out[key] = fn(row)
            return out

        return build

    def _list(self, value: list, where: str) -> Any:
        items = [self.value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if not any(callable(item) for item in items):
            return items
        parts = [item if callable(item) else _const(item) for item in items]
        return lambda row: [part(row) for part in parts]

    def string(self, text: str, where: str) -> Any:
        """A constant string, or a callable rendering it for a row (compiled once per text)."""
        if "{{" not in text and "{%" not in text and "{#" not in text:
            return text
        key = f"{where}\0{text}"
        if key not in self._strings:
            self._strings[key] = self._compile(text, where)
        return self._strings[key]

    def _compile(self, text: str, where: str) -> Any:
        from jinja2 import TemplateSyntaxError, meta, nodes

        try:
            tree = self.env.parse(text)
        except TemplateSyntaxError as exc:
            raise Failure(where, f"template syntax error: {exc.message}",
                           "see docs/templates.md for the template syntax") from None
        for name in meta.find_undeclared_variables(tree):
            self.variables.setdefault(name, where)
        fast = _fast_parts(tree, nodes, self.env.globals)
        if fast is not None:
            return _concat(fast, where)
        template = self.env.from_string(tree)
        render = template.render

        def build(row):
            try:
                return render(row, row=row)
            except Exception as exc:
                raise _template_failure(exc, where) from None

        return build

    def check_variables(self, columns: list[str] | None) -> None:
        """Fail before the first row when a template names a column the source does not have."""
        if columns is None:
            return
        known = set(columns) | {"row"} | set(self.env.globals)
        for name, where in self.variables.items():
            if name not in known:
                raise SpecError(f"undefined variable {name!r}: the source has no such column",
                                where=where, hint="columns are: " + ", ".join(columns))

    def _image(self, block: dict, where: str) -> Any:
        source = block["source"]
        kind = source.get("type")
        if kind not in ("file", "gcs", "base64"):
            return self._dict(block, where)
        field = {"file": "path", "gcs": "uri", "base64": "data"}[kind]
        ref = self.value(source.get(field, ""), f"{where}.source.{field}")
        media = self.value(source.get("media_type"), f"{where}.source.media_type")
        rest = self._dict({k: v for k, v in block.items() if k != "source"}, where)
        load = self.images.load
        ref_where = f"{where}.source.{field}"
        if not any(callable(x) for x in (ref, media, rest)):
            return {**rest, "source": load(kind, ref, media, ref_where)}
        ref_fn, media_fn, rest_fn = (x if callable(x) else _const(x) for x in (ref, media, rest))

        def build(row):
            out = rest_fn(row)
            out = dict(out) if not callable(rest) else out
            out["source"] = load(kind, ref_fn(row), media_fn(row), ref_where)
            return out

        return build


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda row: value


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
        elif isinstance(node, nodes.Const) and isinstance(node.value, (str, int, float)):
            parts.append((False, str(node.value)))
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in globals_:
            parts.append((True, node.name))
        else:
            return None
    return parts


def _concat(parts: list[tuple[bool, str]], where: str) -> Any:
    """A closure concatenating literals and `str(variable)`, like Jinja's own output."""
    if not any(is_var for is_var, _ in parts):
        return "".join(text for _, text in parts)

    def lookup(row, name):
        if name == "row":
            return row
        try:
            return row[name]
        except KeyError:
            raise Failure(where, f"undefined variable {name!r}",
                           "the row's columns are: " + ", ".join(map(str, row))) from None

    names = [text for is_var, text in parts if is_var]
    if len(names) == 1 and "row" not in names:
        name = names[0]
        index = next(i for i, (is_var, _) in enumerate(parts) if is_var)
        before = "".join(text for _, text in parts[:index])
        after = "".join(text for _, text in parts[index + 1:])

        def one(row):
            try:
                value = row[name]
            except KeyError:
                lookup(row, name)
                raise
            return f"{before}{value}{after}" if type(value) is str else before + str(value) + after

        return one
    frozen = tuple(parts)
    return lambda row: "".join([str(lookup(row, t)) if v else t for v, t in frozen])


def _template_failure(exc: Exception, where: str) -> Exception:
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, UndefinedError):
        match = re.fullmatch(r"'(.+)' is undefined", exc.message or "")
        text = f"undefined variable {match.group(1)!r}" if match else f"undefined: {exc.message}"
        return Failure(where, text, "every variable must be a column of the row (or `row`)")
    if isinstance(exc, SecurityError):
        return Failure(where, f"unsafe template operation: {exc}")
    if isinstance(exc, Failure):
        return exc
    return Failure(where, f"template error: {type(exc).__name__}: {exc}")
