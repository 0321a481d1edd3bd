"""Typed answers in requests: every body asks for the schema (format or forced tool), kept values travel."""

from __future__ import annotations

import orjson

from runner.render.requests import render_requests
from runner.render.token_estimates import estimate_input_tokens
from runner.spec import load_spec
from runner.spec.answer_schema import wire_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
    },
    "required": ["category", "priority"],
    "additionalProperties": False,
}


def _spec(repo, model: str, source: str = "rows.jsonl", extra: str = "", typed: bool = True):
    (repo / "rows.jsonl").write_text(
        '{"id": "t-1", "product": "api", "body": "500s"}\n{"id": "t-2", "product": "web", "body": "slow"}\n'
    )
    (repo / "prepared.jsonl").write_text(
        orjson.dumps(
            {"custom_id": "p-1", "team": "a", "request": {"messages": [{"role": "user", "content": "x"}]}}
        ).decode()
        + "\n"
    )
    output = (
        f"output:\n  schema: {orjson.dumps(SCHEMA).decode()}\n  keep: [{'team' if 'prepared' in source else 'id, product'}]\n"
        if typed
        else ""
    )
    if source == "prepared":
        body = "prepared: prepared.jsonl\n"
    else:
        body = (
            "template:\n  source: rows.jsonl\n  custom_id_column: id\n"
            "  messages: [{role: user, content: '{{ body }}'}]\n"
        )
    path = repo / "spec.yaml"
    path.write_text(f"name: t\nmodel: {model}\nmode: stream\n{extra}{body}destination: out.jsonl\n{output}")
    return load_spec(path)


def test_every_templated_request_carries_the_format_and_its_kept_values(repo):
    requests = list(render_requests(_spec(repo, "claude-sonnet-4-6")))
    assert [r.kept for r in requests] == [{"id": "t-1", "product": "api"}, {"id": "t-2", "product": "web"}]
    for request in requests:
        assert request.body["output_config"] == {
            "format": {"type": "json_schema", "schema": wire_schema(SCHEMA)}
        }
        assert "tools" not in request.body


def test_a_model_without_json_outputs_gets_a_forced_answer_tool_added_to_its_tools(repo):
    extra = "request:\n  tools: [{name: lookup, input_schema: {type: object}}]\n"
    [first, _] = render_requests(_spec(repo, "claude-haiku-4-5@20251001", extra=extra))
    assert [t["name"] for t in first.body["tools"]] == ["lookup", "answer"]
    assert first.body["tools"][1]["input_schema"] == wire_schema(SCHEMA)
    assert "strict" not in first.body["tools"][1]  # haiku 4.5: strict tools not listed on Vertex yet
    assert first.body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert "output_config" not in first.body


def test_prepared_requests_get_the_format_and_keep_their_other_columns(repo):
    [request] = render_requests(_spec(repo, "claude-sonnet-4-6", source="prepared"))
    assert request.kept == {"team": "a"}
    assert request.body["output_config"]["format"]["type"] == "json_schema"


def test_a_plain_job_sends_no_format_and_keeps_nothing(repo):
    [first, _] = render_requests(_spec(repo, "claude-sonnet-4-6", typed=False))
    assert first.kept is None and "output_config" not in first.body


def test_the_input_token_estimate_counts_the_schema(repo):
    typed = next(iter(render_requests(_spec(repo, "claude-sonnet-4-6"))))
    plain = next(iter(render_requests(_spec(repo, "claude-sonnet-4-6", typed=False))))
    assert estimate_input_tokens(typed.body) > estimate_input_tokens(plain.body) + 20
