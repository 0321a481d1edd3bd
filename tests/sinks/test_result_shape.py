"""ResultShape: reading answers (typed and checked, or text), error types, and the BigQuery column mapping."""

from __future__ import annotations

import sys

import orjson
import pytest

from runner.dataio.results import ResultShape
from runner.records import ResultRow

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
    },
    "required": ["category", "priority"],
    "additionalProperties": False,
}


@pytest.fixture(params=["jsonschema-rs", "jsonschema"])
def validator(request, monkeypatch):
    """Both validators give the same verdicts (jsonschema-rs is optional: jsonschema is the fallback)."""
    if request.param == "jsonschema":
        monkeypatch.setitem(sys.modules, "jsonschema_rs", None)
    else:
        pytest.importorskip("jsonschema_rs")
    return request.param


def _row(text=None, stop="end_turn", tool=None) -> ResultRow:
    content = [{"type": "text", "text": text}] if text is not None else []
    if tool is not None:
        content = [{"type": "tool_use", "id": "t", "name": "answer", "input": tool}]
    response = {"model": "m", "content": content, "stop_reason": stop, "usage": {}}
    return ResultRow("a", "succeeded", response=response, stop_reason=stop)


def _finish(row, method="format"):
    return ResultShape(SCHEMA, ("product",), method, "claude-x").finish(row)


def test_a_matching_answer_fills_the_fields(validator):
    row = _finish(_row('{"category": "bug", "priority": 2}'))
    assert (row.status, row.answer, row.model) == ("succeeded", {"category": "bug", "priority": 2}, "m")


def test_a_forced_tool_answer_is_read_from_the_tool_call(validator):
    row = _finish(_row(tool={"category": "billing", "priority": 1}, stop="tool_use"), method="tool")
    assert row.answer == {"category": "billing", "priority": 1}


@pytest.mark.parametrize(
    ("row", "kind", "path", "message"),
    [
        (_row('{"category": "bug", '), "invalid_json", "$", "the answer is not JSON: "),
        (
            _row('{"category": "bug", "priority": 7}'),
            "schema_mismatch",
            "$.priority",
            "$.priority: 7 is greater than the maximum of 4",
        ),
        (
            _row('{"category": "spam", "priority": 1}'),
            "schema_mismatch",
            "$.category",
            "$.category: 'spam' is not one of ['billing', 'bug']",
        ),
        (_row('{"category": "bug"}'), "schema_mismatch", "$", "$: 'priority' is a required property"),
        (_row("I can't help with that.", stop="refusal"), "refusal", None, "Claude declined to answer"),
        (
            _row('{"category": "b', stop="max_tokens"),
            "max_tokens",
            None,
            "the answer was cut off at max_tokens",
        ),
    ],
)
def test_a_bad_answer_errors_the_row_with_its_type_path_and_message(validator, row, kind, path, message):
    row = _finish(row)
    assert row.status == "errored" and row.answer is None and row.response is not None
    assert (row.error["type"], row.error["path"]) == (kind, path)
    assert row.error["message"].startswith(message)


def test_a_reply_without_the_answer_tool_is_no_answer(validator):
    row = _finish(_row("just text"), method="tool")
    assert row.error["type"] == "no_answer"


def test_a_plain_job_gets_the_text():
    row = ResultShape().finish(_row("hello there"))
    assert (row.status, row.text) == ("succeeded", "hello there")


def test_record_lays_out_kept_columns_then_answer_fields_then_diagnostics(validator):
    row = _finish(_row('{"category": "bug", "priority": 2}'))
    row.kept = {"product": "api"}
    record = ResultShape(SCHEMA, ("product",), "format").record(row)
    assert list(record)[:5] == ["custom_id", "status", "product", "category", "priority"]
    assert orjson.loads(ResultShape(SCHEMA, ("product",)).jsonl([row]))["product"] == "api"


def test_the_answer_schema_maps_to_bigquery_columns():
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "e": {"enum": ["x", "y"]},
            "ei": {"enum": [1, 2]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "who": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name"],
            },
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "ref": {"$ref": "#/$defs/d"},
        },
        "$defs": {"d": {"type": "number"}},
    }
    columns = {
        c.name: c for c in ResultShape(schema, ("product",), kept_types={"product": "INT64"}).bq_schema()
    }
    kinds = {name: (c.kind, c.mode) for name, c in columns.items()}
    assert kinds["product"] == ("INT64", "NULLABLE")
    assert kinds["s"] == ("STRING", "NULLABLE") and kinds["i"] == ("INT64", "NULLABLE")
    assert kinds["n"] == ("FLOAT64", "NULLABLE") and kinds["b"] == ("BOOL", "NULLABLE")
    assert kinds["e"] == ("STRING", "NULLABLE") and kinds["ei"] == ("INT64", "NULLABLE")
    assert kinds["tags"] == ("STRING", "REPEATED") and kinds["grid"] == ("JSON", "NULLABLE")
    assert kinds["who"] == ("RECORD", "NULLABLE")
    assert [(f.name, f.kind, f.mode) for f in columns["who"].fields] == [
        ("name", "STRING", "REQUIRED"),
        ("age", "INT64", "NULLABLE"),
    ]
    assert kinds["maybe"] == ("STRING", "NULLABLE") and kinds["either"] == ("JSON", "NULLABLE")
    assert kinds["ref"] == ("FLOAT64", "NULLABLE")
    assert kinds["response"] == ("JSON", "NULLABLE") and kinds["processed_time"] == ("TIMESTAMP", "NULLABLE")
