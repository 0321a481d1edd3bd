"""The JSON Schemas in `schemas/`, and their errors turned into located, readable findings."""

from __future__ import annotations

import difflib
import heapq
import json
from functools import cache
from typing import Any

from runner.paths import schemas_dir
from runner.spec.findings import Finding
from runner.spec.yamlload import LoadedYaml

JOB_SCHEMA = "job.schema.json"
# Keywords whose failure is explained better by the subschema's own `x-message`.
_MESSAGE_KEYWORDS = {"pattern", "anyOf", "oneOf", "enum"}


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((schemas_dir() / name).read_text(encoding="utf-8"))


@cache
def validator_for(name: str):
    """A validator over the schema with its local `$ref`s inlined: same verdicts, a third faster."""
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    schema = load_schema(name)
    validator = extend(Draft202012Validator, {"pattern": _ecma_pattern})
    return validator(_inline(schema, schema))


def _ecma_pattern(validator, pattern: str, instance: Any, schema: dict):
    """`pattern` as JSON Schema means it (ECMA 262): `$` ends the string, where Python's `$` also
    matches before a final newline, so `"a\\n"` would pass `^[a-z]+$` (and editors refuse it)."""
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _compiled(pattern: str):
    import re

    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            ch = r"\Z"
        out.append(ch)
    return re.compile("".join(out))


def _inline(node: Any, root: dict, depth: int = 0) -> Any:
    """Replace `{"$ref": "#/$defs/x"}` by (a copy of) its target; our schemas have no cycles."""
    if depth > 32:
        raise ValueError("schema $refs nest too deep (a cycle?)")
    if isinstance(node, list):
        return [_inline(item, root, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and set(node) <= {"$ref", "description", "default"}:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return _inline(target, root, depth + 1)
    return {key: (value if key == "$defs" else _inline(value, root, depth)) for key, value in node.items()}


def schema_findings(loaded: LoadedYaml, schema_name: str = JOB_SCHEMA) -> list[Finding]:
    """Every schema error of the document, each at the line:column of the node it is about."""
    validator = validator_for(schema_name)
    findings: list[Finding] = []
    for error in sorted(validator.iter_errors(loaded.data), key=lambda e: [str(p) for p in e.absolute_path]):
        findings.extend(f for f in _explain(_pick(error), loaded, validator.schema) if f not in findings)
    return findings


def _has_message(error) -> bool:
    return (
        isinstance(error.schema, dict)
        and "x-message" in error.schema
        and error.validator in _MESSAGE_KEYWORDS
    )


def _pick(error):
    """jsonschema's best_match, but stopping at a subschema that carries its own message."""
    from jsonschema.exceptions import relevance

    best = error
    while best.context and not _has_message(best) and not _required_choice(best):
        smallest = heapq.nsmallest(2, best.context, key=relevance)
        if len(smallest) == 2 and relevance(smallest[0]) == relevance(smallest[1]):
            break
        best = smallest[0]
    return best


def _required_choice(error) -> list[str] | None:
    """`oneOf: [{required: [a]}, {required: [b]}]` -> [a, b]: "exactly one of" rules."""
    if error.validator != "oneOf" or not isinstance(error.validator_value, list):
        return None
    keys = []
    for sub in error.validator_value:
        if not (isinstance(sub, dict) and set(sub) == {"required"} and len(sub["required"]) == 1):
            return None
        keys.append(sub["required"][0])
    return keys


def _explain(error, loaded: LoadedYaml, root: dict) -> list[Finding]:
    path = tuple(error.absolute_path)
    instance = error.instance
    choice = _required_choice(error)
    if choice is not None:
        if not isinstance(instance, dict):
            return []  # the type error says it all
        present = [k for k in choice if k in instance]
        names = ", ".join(choice[:-1]) + f" or {choice[-1]}"
        if not present:
            return [Finding(*loaded.mark(path), path, f"one of {names} is required", "schema.one-of")]
        second = path + (present[1],)
        return [
            Finding(
                *loaded.mark(second, key=True),
                second,
                f"{present[0]} and {present[1]} cannot be used together: give only one of {names}",
                "schema.one-of",
            )
        ]
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        known = _known_keys(error.schema, root)
        findings = []
        for key in instance:
            if key in known:
                continue
            where = path + (key,)
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else ("allowed: " + ", ".join(sorted(known)) if 0 < len(known) <= 12 else None)
            )
            findings.append(
                Finding(
                    *loaded.mark(where, key=True),
                    where,
                    f"unknown key {_short(key)}",
                    "schema.unknown-key",
                    hint,
                )
            )
        return findings
    if "propertyNames" in error.relative_schema_path and isinstance(instance, str):
        where = path + (instance,)
        message = (
            error.schema.get("x-message", error.message) if isinstance(error.schema, dict) else error.message
        )
        return [
            Finding(
                *loaded.mark(where, key=True), where, message.format(instance=repr(instance)), "schema.key"
            )
        ]
    message = error.message
    if not path and error.validator == "type":
        # Never echo a document that is one scalar: it may be a file that was never a spec.
        kind = type(instance).__name__ if instance is not None else "null"
        kind = {"str": "string", "int": "number", "float": "number", "bool": "boolean", "list": "list"}.get(
            kind, kind
        )
        return [
            Finding(
                *loaded.mark(path),
                path,
                f"a spec must be a mapping of keys (name:, model:, ...), not a {kind}",
                "schema.type",
                "start from an example in jobs/examples/",
            )
        ]
    if _has_message(error):
        message = error.schema["x-message"].format(instance=_short(instance))
    elif error.validator == "type" and path in loaded.coerced:
        raw = loaded.coerced[path]
        return [
            Finding(
                *loaded.mark(path),
                path,
                f"{raw} is read as {json.dumps(instance)}, which is {error.message.split(' is ', 1)[1]}",
                "schema.type",
                f'quote it: "{raw}"',
            )
        ]
    elif error.validator == "const":
        message = f"{_short(instance)} is not allowed here: use {error.validator_value!r}"
    elif error.validator == "required":
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else None
        if missing:
            message = f"{missing!r} is required"
    else:
        message = _shorten(message, instance)
    hint = None
    if error.validator == "type" and error.validator_value == "array" and isinstance(instance, dict):
        hint = "write a list: each item starts with '- '"
    elif error.validator == "type" and isinstance(error.schema, dict):
        hint = error.schema.get("x-hint")
    if (
        error.validator == "enum"
        and isinstance(instance, str)
        and not _has_message(error)
        and isinstance(error.validator_value, list)
    ):
        options = [v for v in error.validator_value if isinstance(v, str)]
        close = difflib.get_close_matches(instance, options, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else None
    return [Finding(*loaded.mark(path), path, message, f"schema.{error.validator}", hint)]


def _known_keys(schema: Any, root: dict, depth: int = 0) -> set[str]:
    """Property names a schema allows, following allOf and local $refs (for unevaluatedProperties)."""
    if not isinstance(schema, dict) or depth > 8:
        return set()
    keys = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        keys |= _known_keys(target, root, depth + 1)
    for sub in schema.get("allOf", []):
        keys |= _known_keys(sub, root, depth + 1)
    return keys


def _short(value: Any, limit: int = 60) -> str:
    """repr(value), cut to about `limit` characters (a cut string keeps its closing quote)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 5] + "...'" if isinstance(value, str) else text[:limit] + "..."


def _shorten(message: str, instance: Any) -> str:
    """jsonschema repeats whole instances ("{...} is not of type ..."): keep messages one short line."""
    full = repr(instance)
    if len(full) > 60 and message.startswith(full):
        return _short(instance) + message[len(full) :]
    return message.replace("\n", " ")
