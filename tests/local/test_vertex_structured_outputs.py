"""Structured outputs on the local Vertex server, through the official SDK: answers that match the
schema, refusals of what the API does not take, and answers spoiled on purpose (`answer_faults`)."""

from __future__ import annotations

import json

import anthropic
import jsonschema
import pytest

from runner.spec.answer_schema import wire_schema

SONNET = "claude-sonnet-4-6"  # takes output_config.format (catalog)
HAIKU45 = "claude-haiku-4-5@20251001"  # does not: forced tools only
PROMPT = [{"role": "user", "content": "Triage: I was charged twice."}]
SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "how-to", "account"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 2, "maxItems": 3},
        "contact": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "urgent": {"type": "boolean"}},
            "required": ["email", "urgent"],
            "additionalProperties": False,
        },
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["category", "priority", "tags", "contact", "note"],
    "additionalProperties": False,
}


def _format(schema=SCHEMA) -> dict:
    return {"output_config": {"format": {"type": "json_schema", "schema": wire_schema(schema)}}}


@pytest.mark.parametrize("prompt", ["Triage: I was charged twice.", "Login fails", "How do I export?"])
async def test_json_outputs_answer_validates_against_the_full_schema(vertex, prompt):
    message = await vertex.client().messages.create(
        model=SONNET, max_tokens=400, messages=[{"role": "user", "content": prompt}], extra_body=_format()
    )
    assert message.stop_reason == "end_turn"
    jsonschema.validate(json.loads(message.content[0].text), SCHEMA)  # enums, ranges, nesting


async def test_the_same_request_gets_the_same_typed_answer_streamed_or_not(vertex):
    client = vertex.client()
    created = await client.messages.create(
        model=SONNET, max_tokens=400, messages=PROMPT, extra_body=_format()
    )
    async with client.messages.stream(
        model=SONNET, max_tokens=400, messages=PROMPT, extra_body=_format()
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].text == created.content[0].text


async def test_strict_forced_tool_answer_validates(vertex):
    tool = {"name": "answer", "input_schema": wire_schema(SCHEMA), "strict": True}
    message = await vertex.client().messages.create(
        model=SONNET,
        max_tokens=400,
        messages=PROMPT,
        tools=[tool],
        tool_choice={"type": "tool", "name": "answer"},
    )
    jsonschema.validate(message.content[0].input, SCHEMA)


async def test_a_schema_outside_the_subset_is_refused_with_the_api_400_shape(vertex):
    with pytest.raises(anthropic.BadRequestError) as caught:
        await vertex.client().messages.create(
            model=SONNET, max_tokens=100, messages=PROMPT, extra_body=_format_raw({**SCHEMA})
        )
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "'minimum' is not supported" in body["error"]["message"]


def _format_raw(schema: dict) -> dict:
    return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}


async def test_a_model_the_catalog_says_cannot_take_the_format_is_refused(vertex):
    with pytest.raises(anthropic.BadRequestError) as caught:
        await vertex.client().messages.create(
            model=HAIKU45, max_tokens=100, messages=PROMPT, extra_body=_format()
        )
    assert caught.value.body["error"]["message"] == "output_config.format: Extra inputs are not permitted"


async def test_strict_tools_on_a_model_without_them_are_refused(vertex):
    tool = {"name": "answer", "input_schema": wire_schema(SCHEMA), "strict": True}
    with pytest.raises(anthropic.BadRequestError) as caught:
        await vertex.client().messages.create(
            model=HAIKU45,
            max_tokens=100,
            messages=PROMPT,
            tools=[tool],
            tool_choice={"type": "tool", "name": "answer"},
        )
    assert "strict: Extra inputs are not permitted" in caught.value.body["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("refusal", lambda m: m.stop_reason == "refusal"),
        ("max_tokens", lambda m: m.stop_reason == "max_tokens"),
        ("invalid_json", lambda m: _not_json(m.content[0].text)),
        (
            "schema_mismatch",
            lambda m: not jsonschema.Draft202012Validator(SCHEMA).is_valid(json.loads(m.content[0].text)),
        ),
    ],
)
async def test_answer_faults_spoil_typed_answers_of_each_kind(vertex, kind, check):
    vertex.configure(answer_faults={kind: 1.0})
    message = await vertex.client().messages.create(
        model=SONNET, max_tokens=400, messages=PROMPT, extra_body=_format()
    )
    assert check(message)


async def test_answer_faults_leave_plain_answers_alone(vertex):
    vertex.configure(answer_faults={"refusal": 1.0})
    message = await vertex.client().messages.create(model=SONNET, max_tokens=50, messages=PROMPT)
    assert message.stop_reason in ("end_turn", "max_tokens")


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False
