"""The `output` block: which models give typed answers and how, the schema Claude is sent, the JobSpec."""

from __future__ import annotations

import dataclasses

import pytest

from runner.spec import catalog, load_spec
from runner.spec.answer_schema import subset_problems, wire_schema
from runner.spec.catalog import Catalog, StructuredOutputs
from runner.spec.check import check_file

SPEC = """\
name: t
model: {model}
mode: stream
prompts:
  - custom_id: a
    messages: [{{role: user, content: hi}}]
destination: results/t.jsonl
output:
  schema:
    type: object
    properties:
      category: {{type: string, enum: [billing, bug]}}
      priority: {{type: integer, minimum: 1, maximum: 4}}
    required: [category, priority]
    additionalProperties: false
"""


@pytest.fixture
def no_typed_model(monkeypatch):
    real = catalog().get("claude-haiku-4-5@20251001")
    plain = dataclasses.replace(
        real,
        name="claude-plain",
        version=None,
        id="claude-plain",
        requires_version=False,
        structured_outputs=StructuredOutputs(output_format=False, strict_tools=False, forced_tool_use=False),
    )
    fake = Catalog([plain, real])
    monkeypatch.setattr("runner.spec.rules.catalog", lambda: fake)
    monkeypatch.setattr("runner.spec.output_checks.catalog", lambda: fake)


def test_a_model_without_json_outputs_or_forced_tools_is_refused_naming_models_that_can(
    spec_file, no_typed_model
):
    lines = check_file(spec_file(SPEC.format(model="claude-plain")), display="t.yaml").lines()
    assert lines == [
        "t.yaml:2:8: $.model: claude-plain takes neither output_config.format nor a forced tool call, "
        "so it cannot give typed answers (models that can: claude-haiku-4-5@20251001)"
    ]


def test_the_catalog_says_which_models_take_output_config_format():
    method = {m.id: m.structured_outputs.method for m in catalog()}
    assert method["claude-sonnet-4-6"] == "format"
    assert method["claude-opus-4-7"] == "format"
    assert method["claude-opus-5-5"] == "format"  # it refuses forced tools, so only JSON outputs
    assert method["claude-haiku-4-5@20251001"] == "tool"  # "coming soon" on Google's page
    assert catalog().get("claude-opus-5-5").structured_outputs.forced_tool_use is False


def test_a_json_outputs_model_gets_the_format_and_a_forced_tool_model_gets_a_strict_tool(spec_file):
    typed = load_spec(spec_file(SPEC.format(model="claude-sonnet-4-6")))
    assert (typed.output.method, typed.output.typed) == ("format", True)
    tool = load_spec(spec_file(SPEC.format(model="claude-haiku-4-5@20251001")))
    assert (tool.output.method, tool.output.strict_tool) == ("tool", False)


def test_constraints_claude_cannot_enforce_move_into_the_description_as_the_sdk_does():
    schema = {
        "type": "object",
        "properties": {
            "priority": {"type": "integer", "minimum": 1, "maximum": 4, "description": "urgency"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 2},
            "when": {"type": "string", "format": "date"},
            "kind": {"oneOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["priority"],
    }
    assert wire_schema(schema) == {
        "type": "object",
        "properties": {
            "priority": {"type": "integer", "description": "urgency\n\n{minimum: 1, maximum: 4}"},
            "tags": {
                "type": "array",
                "items": {"type": "string", "description": "{maxLength: 20}"},
                "description": "{minItems: 2}",
            },
            "when": {"type": "string", "format": "date"},
            "kind": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "additionalProperties": False,
        "required": ["priority"],
    }


def test_a_schema_inside_the_subset_has_no_problems():
    schema = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/leaf"},
            "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "c": {"const": 3},
        },
        "additionalProperties": False,
        "$defs": {"leaf": {"type": "object", "properties": {"x": {"type": "number"}}}},
    }
    assert subset_problems(schema) == []
