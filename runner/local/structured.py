"""Structured outputs in the simulated Claude: what the API refuses, and answers spoiled on purpose.

Refusals follow Anthropic's published subset of JSON Schema for structured
outputs (types, properties, required, additionalProperties false, items,
minItems 0/1, enum/const of plain values, anyOf/allOf, local $ref/$defs,
description, title, the listed string formats) and the model catalog's
`structured_outputs` entry (a model without `output_format` answers
`output_config.format: Extra inputs are not permitted`, as Vertex AI does).
The exact wording of other refusals is not published; ours name the keyword.

`spoil_answer` is the `answer_faults` knob: per request, chosen by a hash of the
body (so a stream call and a batch row agree), an answer becomes invalid JSON,
one that breaks its schema, a refusal (`stop_reason: refusal`) or a truncation
(`stop_reason: max_tokens`).
"""

from __future__ import annotations

import hashlib

import orjson

from runner.local.faults import anthropic_error

ANSWER_FAULTS = ("invalid_json", "schema_mismatch", "refusal", "max_tokens")
_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "enum",
    "const",
    "anyOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "description",
    "title",
    "format",
    "default",
}
_FORMATS = {
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "ipv6",
    "uuid",
    "text",
}


def _invalid(message: str) -> dict:
    return anthropic_error("invalid_request_error", message)


def check_structured(body: dict, model: str) -> dict | None:
    """The 400 body for a structured-output request this model or schema cannot take, else None."""
    features = _features(model)
    config = body.get("output_config")
    if isinstance(config, dict) and "format" in config:
        if features is not None and not features.output_format:
            return _invalid("output_config.format: Extra inputs are not permitted")
        fmt = config["format"]
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return _invalid("output_config.format.type: Input should be 'json_schema'")
        if not isinstance(fmt.get("schema"), dict):
            return _invalid("output_config.format.schema: Field required")
        problem = _schema_problem(fmt["schema"], "output_config.format.schema", fmt["schema"], ())
        if problem:
            return _invalid(problem)
    for i, tool in enumerate(body.get("tools") or ()):
        if not isinstance(tool, dict) or not tool.get("strict"):
            continue
        if features is not None and not features.strict_tools:
            return _invalid(f"tools.{i}.custom.strict: Extra inputs are not permitted")
        problem = _schema_problem(
            tool.get("input_schema"), f"tools.{i}.input_schema", tool.get("input_schema"), ()
        )
        if problem:
            return _invalid(problem)
    choice = body.get("tool_choice")
    if (
        features is not None
        and not features.forced_tool_use
        and isinstance(choice, dict)
        and choice.get("type") in ("any", "tool")
    ):
        return _invalid(f"tool_choice.type: '{choice.get('type')}' is not supported by {model}; use 'auto'")
    return None


def _features(model: str):
    from runner.local.config import catalog_or_none

    catalog = catalog_or_none()
    entry = catalog.get(model) if catalog is not None else None
    return entry.structured_outputs if entry is not None else None


def _schema_problem(node, where: str, root, refs: tuple) -> str | None:
    if not isinstance(node, dict):
        return f"{where}: Input should be a valid dictionary"
    for key in node:
        if key not in _KEYWORDS:
            kind = node.get("type", "schema")
            return f"{where}: For '{kind}' type, property '{key}' is not supported"
    kind = node.get("type")
    if isinstance(kind, list):
        return f"{where}.type: Input should be a single type name"
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith(("#/$defs/", "#/definitions/")):
            return f"{where}.$ref: only references to local definitions are supported"
        if ref in refs:
            return f"{where}.$ref: recursive schemas are not supported"
        name = ref.split("/", 2)[2]
        target = (root.get("$defs") or root.get("definitions") or {}).get(name)
        return _schema_problem(target, f"{where}.$ref", root, refs + (ref,))
    if kind == "object" or "properties" in node:
        if node.get("additionalProperties", False) is not False:
            return f"{where}.additionalProperties: must be false for structured outputs"
    if node.get("minItems", 0) not in (0, 1):
        return f"{where}: For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    if "format" in node and node["format"] not in _FORMATS:
        return f"{where}.format: '{node['format']}' is not a supported string format"
    if isinstance(node.get("enum"), list) and not all(
        v is None or isinstance(v, (str, int, float, bool)) for v in node["enum"]
    ):
        return f"{where}.enum: enum values must be strings, numbers, booleans or null"
    children = [(f"{where}.properties.{k}", v) for k, v in (node.get("properties") or {}).items()]
    if isinstance(node.get("items"), dict):
        children.append((f"{where}.items", node["items"]))
    for key in ("anyOf", "allOf"):
        children += [(f"{where}.{key}.{i}", v) for i, v in enumerate(node.get(key) or ())]
    children += [(f"{where}.$defs.{k}", v) for k, v in (node.get("$defs") or {}).items()]
    for child_where, child in children:
        problem = _schema_problem(child, child_where, root, refs)
        if problem:
            return problem
    return None


def draw(body: dict, rates: dict[str, float]) -> str | None:
    """The answer fault of this request body (deterministic), or None."""
    digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=8).digest()
    roll = int.from_bytes(digest, "big") / 2**64
    for kind in ANSWER_FAULTS:
        rate = rates.get(kind, 0.0)
        if roll < rate:
            return kind
        roll -= rate
    return None


def spoil_answer(message: dict, body: dict, rates: dict[str, float]) -> None:
    """Turn a typed answer (JSON text or the forced tool's input) into the drawn fault, in place."""
    content = message.get("content") or []
    text_block = next((b for b in content if b.get("type") == "text"), None)
    tool_block = next((b for b in content if b.get("type") == "tool_use"), None)
    # The answer: JSON text of a typed request, else the forced tool's input.
    if isinstance(body.get("output_config"), dict) and text_block is not None:
        block, typed = text_block, True
    elif tool_block is not None:
        block, typed = tool_block, False
    else:
        return
    fault = draw(body, rates)
    if fault is None:
        return
    if fault == "refusal":
        message["content"] = [{"type": "text", "text": "I can't help with that request."}]
        message["stop_reason"] = "refusal"
    elif fault == "max_tokens":
        if typed:
            block["text"] = block["text"][: max(1, len(block["text"]) // 2)]
        message["stop_reason"] = "max_tokens"
        message["usage"]["output_tokens"] = int(body.get("max_tokens") or 1)
    elif fault == "invalid_json" and typed:
        block["text"] = block["text"].rstrip("}") + ","
    else:  # schema_mismatch (and invalid_json for a tool, whose input is always an object)
        answer = orjson.loads(block["text"]) if typed else dict(block["input"])
        if isinstance(answer, dict) and answer:
            first = next(iter(answer))  # a value of the wrong type breaks any schema for it
            answer[first] = "not a number" if isinstance(answer[first], (int, float)) else 12345
        elif isinstance(answer, dict):
            answer["unexpected_field"] = True
        if typed:
            block["text"] = orjson.dumps(answer).decode()
        else:
            block["input"] = answer
