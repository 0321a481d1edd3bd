"""Inline prompts and prepared requests: bodies, custom_id rules, located errors."""

from __future__ import annotations

import orjson
import pytest
from render_helpers import file_source, inline_spec, prepared_spec, write_jsonl

from runner.errors import SpecError
from runner.render.requests import render_requests

HELLO = [{"role": "user", "content": "Say {{ hello }}."}]


def test_inline_prompts_keep_their_text_literally_and_apply_overrides(repo):
    spec = inline_spec(
        repo,
        [
            {"custom_id": "a", "messages": HELLO},
            {"custom_id": "b", "messages": HELLO, "overrides": {"max_tokens": 9}},
        ],
        request={"max_tokens": 100},
    )
    a, b = render_requests(spec)
    assert a.body == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 100, "messages": HELLO}
    assert (b.custom_id, b.body["max_tokens"]) == ("b", 9)


def test_inline_duplicate_custom_id_is_located_at_the_second_prompt(repo):
    spec = inline_spec(repo, [{"custom_id": "a", "messages": HELLO}, {"custom_id": "a", "messages": HELLO}])
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.prompts[1].custom_id: custom_id 'a' is not unique: "
        "also at $.prompts[0].custom_id"
    )


def test_inline_invalid_custom_id_fails_before_anything_is_yielded(repo):
    spec = inline_spec(
        repo, [{"custom_id": "ok", "messages": HELLO}, {"custom_id": "not ok!", "messages": HELLO}]
    )
    with pytest.raises(
        SpecError, match=r"^repo/jobs/job\.yaml:1:1: \$\.prompts\[1\]\.custom_id: custom_id 'not ok!'"
    ):
        render_requests(spec)


def _prepared(repo, rows):
    write_jsonl(repo / "data" / "in.jsonl", rows)
    return prepared_spec(repo, file_source(repo, "../data/in.jsonl"))


def test_prepared_rows_pass_through_without_model(repo):
    request = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "anthropic_version": "vertex-2023-10-16",
    }
    spec = _prepared(
        repo,
        [
            {"custom_id": "x-1", "request": {**request, "model": "claude"}},
            {"custom_id": "x-2", "request": orjson.dumps(request).decode()},
        ],
    )
    got = list(render_requests(spec))
    assert [(r.custom_id, r.body) for r in got] == [("x-1", request), ("x-2", request)]


def test_prepared_rows_get_the_default_anthropic_version(repo):
    spec = _prepared(repo, [{"custom_id": "x", "request": {"messages": [], "max_tokens": 1}}])
    [request] = render_requests(spec)
    assert request.body["anthropic_version"] == "vertex-2023-10-16"


def test_prepared_row_without_a_request_body_is_located(repo):
    spec = _prepared(
        repo, [{"custom_id": "x", "request": {"messages": []}}, {"custom_id": "y", "request": "not json"}]
    )
    with pytest.raises(SpecError, match=r"^repo/data/in\.jsonl:2: 'request' must be"):
        list(render_requests(spec))


def test_prepared_duplicate_custom_id_names_both_lines(repo):
    body = {"messages": []}
    spec = _prepared(
        repo,
        [
            {"custom_id": "x", "request": body},
            {"custom_id": "y", "request": body},
            {"custom_id": "x", "request": body},
        ],
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/data/in.jsonl:3: custom_id 'x' is not unique: also at repo/data/in.jsonl:1"
    )


def test_prepared_numeric_custom_id_is_rejected(repo):
    spec = _prepared(repo, [{"custom_id": 5, "request": {"messages": []}}])
    with pytest.raises(SpecError, match="custom_id 5 does not match"):
        list(render_requests(spec))
