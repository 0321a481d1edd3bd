"""The one shape of a result row, in every destination, for both executors.

    custom_id, status, <kept columns>, <the answer's fields> | text,
    error, stop_reason, usage, model, processed_time, response, attempts, latency_ms, mode

`ResultShape.of(spec)` is built once per run. Executors call `finish(row)` on every
ResultRow as it is made (stream: after the call; batch: as outputs are joined):
it reads the answer out of the Message once -- the typed answer parsed and checked
against `output.schema`, or the plain `text` -- and turns an answer that does not
parse, does not match, was refused or was cut off into an errored row with its own
error type. Sinks call `record(row)` (JSONL keys / BigQuery row) and `bq_schema()`.
See docs/internals.md ("Result rows") and docs/spec-format.md#output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from runner.records import ResultRow

# Error types of answers (error.type); `--retry-failed` re-sends them like any errored row.
INVALID_JSON = "invalid_json"
SCHEMA_MISMATCH = "schema_mismatch"
REFUSAL = "refusal"
TRUNCATED = "max_tokens"
NO_ANSWER = "no_answer"

TAIL = (
    ("error", "JSON"),
    ("stop_reason", "STRING"),
    ("usage", "JSON"),
    ("model", "STRING"),
    ("processed_time", "TIMESTAMP"),
    ("response", "JSON"),
    ("attempts", "INT64"),
    ("latency_ms", "FLOAT64"),
    ("mode", "STRING"),
)


@dataclass(frozen=True)
class Column:
    """One BigQuery column: `kind` is a BigQuery type (RECORD for STRUCT), `fields` its sub-columns."""

    name: str
    kind: str
    mode: str = "NULLABLE"
    fields: tuple[Column, ...] = ()

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "mode": self.mode}
        if self.fields:
            out["fields"] = [f.to_api() for f in self.fields]
        return out


@dataclass
class ResultShape:
    schema: dict[str, Any] | None = None  # output.schema as written; None: a `text` column
    keep: tuple[str, ...] = ()
    method: str | None = None  # "format" | "tool"
    model: str | None = None
    kept_types: dict[str, str] = field(default_factory=dict)  # BigQuery types of kept columns
    _validator: Any = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, spec, kept_types: dict[str, str] | None = None) -> ResultShape:
        output = spec.output
        return cls(output.schema, tuple(output.keep), output.method, spec.model, dict(kept_types or {}))

    @property
    def typed(self) -> bool:
        return self.schema is not None

    @property
    def fields(self) -> list[str]:
        return list(self._answer_fields)

    @cached_property
    def _answer_fields(self) -> tuple[str, ...]:
        """The answer's columns, worked out once: `record` runs for every row."""
        return tuple((self.schema or {}).get("properties") or {}) if self.typed else ("text",)

    def columns(self) -> list[str]:
        return ["custom_id", "status", *self.keep, *self.fields, *(name for name, _ in TAIL)]

    # -- reading answers ----------------------------------------------------------------

    def finish(self, row: ResultRow) -> ResultRow:
        """Fill the answer (typed fields, or text) of a succeeded row; a bad answer errors the row."""
        response = row.response if isinstance(row.response, dict) else None
        if row.model is None:
            row.model = (response or {}).get("model") or self.model
        if row.status != "succeeded" or response is None:
            return row
        if not self.typed:
            row.text = _text(response)
            return row
        problem = self._problem(response, row)
        if problem is not None:
            kind, message, path = problem
            row.status = "errored"
            row.answer = None
            row.error = {"type": kind, "message": message, "code": None, "path": path}
        return row

    def _problem(self, response: dict, row: ResultRow) -> tuple[str, str, str | None] | None:
        stop = response.get("stop_reason")
        if stop == "refusal":
            return REFUSAL, "Claude declined to answer (stop_reason: refusal)", None
        if stop == "max_tokens":
            return (
                TRUNCATED,
                "the answer was cut off at max_tokens before it was complete; raise request.max_tokens",
                None,
            )
        if self.method == "tool":
            answer = _tool_input(response)
            if answer is None:
                return NO_ANSWER, "the reply has no call of the answer tool", None
        else:
            text = _text(response)
            try:
                answer = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                return INVALID_JSON, f"the answer is not JSON: {exc}", "$"
        fast = self._validator or self._compile()
        if not fast.is_valid(answer):
            from jsonschema.exceptions import best_match

            # The message and path are jsonschema's, whichever validator said no.
            error = best_match(self._explainer.iter_errors(answer))
            if error is not None:
                return SCHEMA_MISMATCH, f"{error.json_path}: {error.message}", error.json_path
        if not isinstance(answer, dict):
            return SCHEMA_MISMATCH, "$: the answer is not an object", "$"
        row.answer = answer
        return None

    @cached_property
    def _explainer(self) -> Any:
        """jsonschema's validator, for the message and path of an answer that does not validate."""
        from jsonschema import Draft202012Validator

        assert self.schema is not None
        return Draft202012Validator(self.schema)

    def _compile(self) -> Any:
        """jsonschema-rs (same draft, ~100x faster) where installed, else jsonschema; formats are
        annotations in draft 2020-12 for both."""
        assert self.schema is not None  # only typed results are checked
        try:
            import jsonschema_rs

            self._validator = jsonschema_rs.Draft202012Validator(self.schema, validate_formats=False)
        except ImportError:
            self._validator = self._explainer
        return self._validator

    # -- writing ------------------------------------------------------------------------

    def record(self, row: ResultRow) -> dict[str, Any]:
        """The row as every destination stores it (JSONL keys in column order; a BigQuery row)."""
        out: dict[str, Any] = {"custom_id": row.custom_id, "status": row.status}
        if self.keep:
            kept = row.kept or {}
            for name in self.keep:
                out[name] = kept.get(name)
        if self.schema is not None:
            answer = row.answer or {}
            for name in self._answer_fields:
                out[name] = answer.get(name)
        else:
            out["text"] = row.text
        out["error"] = row.error
        out["stop_reason"] = row.stop_reason
        out["usage"] = row.usage
        out["model"] = row.model
        out["processed_time"] = row.processed_time
        out["response"] = row.response
        out["attempts"] = row.attempts
        out["latency_ms"] = row.latency_ms
        out["mode"] = row.mode
        return out

    def jsonl(self, rows: Iterable[ResultRow]) -> bytes:
        dumps, record = orjson.dumps, self.record
        return b"".join(dumps(record(r), default=str) + b"\n" for r in rows)

    def bq_schema(self) -> list[Column]:
        columns = [Column("custom_id", "STRING"), Column("status", "STRING")]
        columns += [Column(name, self.kept_types.get(name, "STRING")) for name in self.keep]
        if self.typed:
            assert self.schema is not None
            defs = self.schema.get("$defs") or {}
            properties = self.schema.get("properties") or {}
            # NULLABLE at the top: an errored row has no answer.
            columns += [_column(name, sub, defs, False) for name, sub in properties.items()]
        else:
            columns.append(Column("text", "STRING"))
        columns += [Column(name, kind) for name, kind in TAIL]
        return columns


def _text(response: dict) -> str:
    content = response.get("content") or []
    if len(content) == 1 and type(content[0]) is dict and content[0].get("type") == "text":
        return content[0].get("text", "")  # nearly every reply: one text block
    return "".join(
        block.get("text", "")
        for block in response.get("content") or ()
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _tool_input(response: dict) -> Any:
    from runner.spec.answer_schema import TOOL_NAME

    for block in response.get("content") or ():
        if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") == TOOL_NAME:
            return block.get("input")
    return None


# -- JSON Schema -> BigQuery (docs/spec-format.md#bigquery-columns) ---------------------

_SCALARS = {"string": "STRING", "integer": "INT64", "number": "FLOAT64", "boolean": "BOOL"}


def _column(name: str, schema: Any, defs: dict, required: bool) -> Column:
    kind, fields, repeated = _bq_type(schema, defs, 0)
    if repeated:
        return Column(name, kind, "REPEATED", fields)
    return Column(name, kind, "REQUIRED" if required and kind != "JSON" else "NULLABLE", fields)


def _bq_type(schema: Any, defs: dict, depth: int) -> tuple[str, tuple[Column, ...], bool]:
    """(BigQuery type, STRUCT fields, repeated) of one schema node; JSON where it is open."""
    if not isinstance(schema, dict) or depth > 15:
        return "JSON", (), False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _bq_type(defs.get(ref.removeprefix("#/$defs/")), defs, depth + 1)
    literals = schema["enum"] if isinstance(schema.get("enum"), list) else None
    if literals is None and "const" in schema:
        literals = [schema["const"]]
    if literals is not None:
        return _literal_type(literals), (), False
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(kept) == 1:
            return _bq_type(kept[0], defs, depth + 1)
        return "JSON", (), False
    kind = schema.get("type")
    if kind in _SCALARS:
        return _SCALARS[kind], (), False
    if kind == "array":
        item, fields, repeated = _bq_type(schema.get("items"), defs, depth + 1)
        if repeated:  # BigQuery has no arrays of arrays
            return "JSON", (), False
        return item, fields, True
    if kind == "object" and isinstance(schema.get("properties"), dict) and schema["properties"]:
        required = set(schema.get("required") or ())
        fields = tuple(
            _column(name, sub, defs, name in required) for name, sub in schema["properties"].items()
        )
        return "RECORD", fields, False
    return "JSON", (), False


def _literal_type(values: list) -> str:
    if values and all(isinstance(v, str) for v in values):
        return "STRING"
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "FLOAT64"
    return "JSON"


# -- kept columns ---------------------------------------------------------------------

_PY_TYPES = (
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (str, "STRING"),
    (dict, "JSON"),
    (list, "JSON"),
)
_LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "JSON", "STRUCT": "JSON"}


def kept_types(spec, target) -> dict[str, str]:
    """BigQuery types of the kept columns: a BigQuery source's own, else those of the first row's values."""
    from runner.dataio.sources import BigQueryRows, open_rows

    template = spec.template
    ref = template.source if template is not None else spec.prepared
    keep = tuple(spec.output.keep)
    if ref is None or not keep:
        return {}
    source = open_rows(ref, target)
    if isinstance(source, BigQueryRows) and ref.kind == "bigquery":
        fields = {f.name: f for f in source._table(source._client()).schema}
        return {
            name: (
                "JSON"
                if fields[name].mode == "REPEATED"
                else _LEGACY.get(fields[name].field_type, fields[name].field_type)
            )
            for name in keep
            if name in fields
        }
    first = next(iter(source), None) or {}
    found = {}
    for name in keep:
        value = first.get(name)
        found[name] = next((kind for py, kind in _PY_TYPES if isinstance(value, py)), "STRING")
    return found
