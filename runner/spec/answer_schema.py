"""The JSON Schema of one typed answer (`output.schema`): Claude's subset, the wire form, columns.

Claude's structured outputs (`output_config.format`, and `tools[].strict`) take a
subset of JSON Schema. The Anthropic SDK's `transform_schema` draws the line this
module follows:

- sent as written: `type` (one of the seven), `properties`, `required`,
  `additionalProperties: false`, `items`, `enum`/`const` of plain values,
  `anyOf` (`oneOf` is sent as `anyOf`), `allOf`, local `$ref` with `$defs`,
  `description`, `title`, string `format`s in `STRING_FORMATS`, `minItems` 0 or 1;
- *constraints* Claude cannot enforce (`minimum`, `maxLength`, `pattern`, ...) are
  moved into the node's `description` (the model reads them there) and the
  runner enforces them when it checks every answer against the full schema;
- everything else (`not`, `if`, `patternProperties`, recursion, a `type` list,
  an open object, ...) cannot be expressed: `validate` refuses it.

`subset_problems` lists what is refused, `wire_schema` is what is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
# Told to the model in the description; enforced by the runner's own check of each answer.
CONSTRAINTS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "format",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
    }
)
STRUCTURE = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "description",
        "title",
        "$schema",
        "$id",
    }
)
# The answer's fields become columns next to these; none may take their names.
RESULT_COLUMNS = (
    "custom_id",
    "status",
    "text",
    "error",
    "stop_reason",
    "usage",
    "model",
    "processed_time",
    "response",
    "attempts",
    "latency_ms",
    "mode",
)
BQ_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
BQ_RESERVED_PREFIXES = ("_table_", "_file_", "_partition", "_row_timestamp", "__root__", "_colidentifier")
TOOL_NAME = "answer"

Problem = tuple[tuple[str | int, ...], str, str]  # (path inside the schema, message, hint)


def subset_problems(schema: dict[str, Any]) -> list[Problem]:
    """What Claude's structured outputs cannot take, each at its place inside the schema."""
    problems: list[Problem] = []
    root_type = schema.get("type")
    if root_type != "object" or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        problems.append(
            (
                (),
                "an answer schema needs type: object with properties (its fields become columns)",
                "wrap the answer in {type: object, properties: {...}, required: [...]}",
            )
        )
    defs = schema["$defs"] if isinstance(schema.get("$defs"), dict) else {}
    _walk(schema, (), defs, problems)
    unique: dict[str, Problem] = {}
    for problem in problems:  # one line per problem, at its first place (a recursive $ref is one)
        unique.setdefault(problem[1] + repr(problem[0]) * ("recursive" not in problem[1]), problem)
    return list(unique.values())


def _walk(node: Any, path: tuple, defs: dict, problems: list[Problem]) -> None:
    if not isinstance(node, dict):
        return
    for key in node:
        if key not in STRUCTURE and key not in CONSTRAINTS:
            problems.append(
                (
                    path + (key,),
                    f"{key!r} is not supported by Claude's structured outputs",
                    "supported: type, properties, required, items, enum, const, anyOf, allOf, $ref, "
                    "description, and constraints such as minimum or maxLength",
                )
            )
    kind = node.get("type")
    if isinstance(kind, list):
        problems.append(
            (
                path + ("type",),
                "a list of types is not supported by Claude's structured outputs",
                "use anyOf: [{type: string}, {type: 'null'}]",
            )
        )
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/$defs/"):
            problems.append(
                (path + ("$ref",), f"$ref {ref!r} is not supported", "refer to #/$defs/NAME of this schema")
            )
        else:
            _recursion(defs.get(ref.removeprefix("#/$defs/")), path, defs, problems, (ref,))
        return
    enum = node.get("enum")
    if isinstance(enum, list) and not all(_plain(v) for v in enum):
        problems.append(
            (path + ("enum",), "enum values must be strings, numbers, booleans or null", "list plain values")
        )
    if "const" in node and not _plain(node["const"]):
        problems.append(
            (path + ("const",), "const must be a string, number, boolean or null", "use a plain value")
        )
    literal = (isinstance(enum, list) and enum) or "const" in node
    combined = any(isinstance(node.get(k), list) for k in ("anyOf", "oneOf", "allOf"))
    if not literal and not combined and kind is None and path != ():
        problems.append(
            (
                path,
                "every part of an answer schema needs a type (or enum, const, anyOf, allOf, $ref)",
                "add type: string (or the type it holds)",
            )
        )
    if kind == "object" or isinstance(node.get("properties"), dict):
        extra = node.get("additionalProperties", False)
        if extra is not False:
            problems.append(
                (
                    path + ("additionalProperties",),
                    "Claude's structured outputs need additionalProperties: false on every object",
                    "set additionalProperties: false and list every field under properties",
                )
            )
    for name, sub in _children(node):
        _walk(sub, path + name, defs, problems)


def _recursion(node: Any, path: tuple, defs: dict, problems: list[Problem], refs: tuple[str, ...]) -> None:
    """Follow $refs inside a definition only to find one that leads back to itself."""
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        if ref in refs:
            problems.append(
                (
                    path + ("$ref",),
                    f"$ref {refs[0]!r} is recursive; Claude's structured outputs take no recursive schemas",
                    "unroll it to a fixed depth",
                )
            )
            return
        _recursion(defs.get(ref.removeprefix("#/$defs/")), path, defs, problems, refs + (ref,))
        return
    for _, sub in _children(node):
        _recursion(sub, path, defs, problems, refs)


def _children(node: dict) -> Iterator[tuple[tuple, Any]]:
    if isinstance(node.get("properties"), dict):
        for name, sub in node["properties"].items():
            yield ("properties", name), sub
    if isinstance(node.get("items"), dict):
        yield ("items",), node["items"]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(key), list):
            for i, sub in enumerate(node[key]):
                yield (key, i), sub
    if isinstance(node.get("$defs"), dict):
        for name, sub in node["$defs"].items():
            yield ("$defs", name), sub


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def wire_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as sent to Claude: constraints it cannot enforce moved into `description`.

    Follows the Anthropic SDK's `transform_schema` (same output for schemas in the subset).
    """
    return _wire(schema, root=True)


def _wire(node: Any, root: bool = False) -> Any:
    if not isinstance(node, dict):
        return node
    rest = dict(node)
    out: dict[str, Any] = {}
    rest.pop("$schema", None)
    rest.pop("$id", None)
    defs = rest.pop("$defs", None)
    if isinstance(defs, dict):
        out["$defs"] = {name: _wire(sub) for name, sub in defs.items()}
    if "$ref" in rest:
        out["$ref"] = rest.pop("$ref")
        return out
    kind = rest.pop("type", None)
    any_of, one_of, all_of = rest.pop("anyOf", None), rest.pop("oneOf", None), rest.pop("allOf", None)
    if isinstance(rest.get("enum"), list) and rest["enum"]:
        out["enum"] = rest.pop("enum")
    if "const" in rest:
        out["const"] = rest.pop("const")
    literal = "enum" in out or "const" in out
    if literal:
        kind = None
    if isinstance(any_of, list) or isinstance(one_of, list):
        out["anyOf"] = [_wire(sub) for sub in (any_of if isinstance(any_of, list) else one_of)]
    elif isinstance(all_of, list):
        out["allOf"] = [_wire(sub) for sub in all_of]
    elif not literal and kind is not None:
        out["type"] = kind
    for key in ("description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    if kind == "object":
        out["properties"] = {name: _wire(sub) for name, sub in (rest.pop("properties", None) or {}).items()}
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if "required" in rest:
            out["required"] = rest.pop("required")
    elif kind == "string":
        if rest.get("format") in STRING_FORMATS:
            out["format"] = rest.pop("format")
    elif kind == "array":
        if "items" in rest:
            out["items"] = _wire(rest.pop("items"))
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    if rest:
        told = "{" + ", ".join(f"{key}: {value}" for key, value in rest.items()) + "}"
        out["description"] = f"{out['description']}\n\n{told}" if "description" in out else told
    return out


def column_problems(schema: dict[str, Any], keep: list[str]) -> list[Problem]:
    """BigQuery's column-name rules for the answer's fields (and their nested fields), and clashes."""
    problems: list[Problem] = []
    properties = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
    taken: dict[str, str] = {c: "a column of every result row" for c in RESULT_COLUMNS}
    for name in keep:
        taken.setdefault(name.lower(), f"kept column {name!r}")
    _names(properties, ("properties",), problems, taken, top=True)
    return problems


def _names(properties: dict, path: tuple, problems: list[Problem], taken: dict[str, str], top: bool) -> None:
    seen: dict[str, str] = {}
    for name, sub in properties.items():
        where = path + (name,)
        problem = bq_name_problem(name)
        if problem:
            problems.append((where, problem, "use letters, digits and underscores, starting with a letter"))
        elif name.lower() in seen:
            problems.append(
                (where, f"field {name!r} and {seen[name.lower()]!r} are one BigQuery column", "rename one")
            )
        elif top and name.lower() in taken:
            problems.append((where, f"field {name!r} clashes with {taken[name.lower()]}", "rename the field"))
        seen.setdefault(name.lower(), name)
        if isinstance(sub, dict):
            if isinstance(sub.get("properties"), dict):
                _names(sub["properties"], where + ("properties",), problems, taken, top=False)
            items = sub.get("items")
            if isinstance(items, dict) and isinstance(items.get("properties"), dict):
                _names(items["properties"], where + ("items", "properties"), problems, taken, top=False)


def bq_name_problem(name: str) -> str | None:
    """Why `name` cannot be a BigQuery column, or None."""
    if not BQ_NAME.match(name):
        return f"{name!r} is not a BigQuery column name"
    if name.lower().startswith(BQ_RESERVED_PREFIXES):
        return f"{name!r} starts with a prefix BigQuery reserves"
    return None
