"""Output lines become one ResultRow per custom_id: parsed status, joined by id, never by order."""

from __future__ import annotations

import orjson
import pytest

from runner.batch import collect
from runner.batch.collect import JoinStats, join_results, keyed_lines, parse_output, parse_status

BAD_REQUEST = (
    'Bad Request: {"error":{"code":400,"message":"messages: field required","status":"FAILED_PRECONDITION"}}'
)


def line(custom_id: str, status: str = "", text: str = "ok") -> bytes:
    response = (
        None
        if status
        else {
            "id": f"msg_{custom_id}",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 3},
        }
    )
    return orjson.dumps(
        {
            "custom_id": custom_id,
            "request": {"messages": []},
            "response": response,
            "status": status,
            "processed_time": "2026-11-23T10:00:00Z",
        }
    )


def test_a_google_error_status_gives_its_code_type_and_message():
    error = parse_status(BAD_REQUEST)
    assert error == {"type": "FAILED_PRECONDITION", "message": "messages: field required", "code": 400}


def test_a_plain_text_status_keeps_its_text_and_maps_the_http_phrase():
    error = parse_status("Internal Server Error: backend unavailable")
    assert error["code"] == 500
    assert error["message"] == "Internal Server Error: backend unavailable"


def test_an_empty_status_is_success_with_usage_and_stop_reason():
    row = parse_output(orjson.loads(line("a-1")))
    assert row.succeeded and row.mode == "batch"
    assert row.usage == {"input_tokens": 10, "output_tokens": 3}
    assert row.stop_reason == "end_turn"


def test_a_bigquery_row_with_json_text_response_parses_too():
    data = orjson.loads(line("a-1"))
    data["response"] = orjson.dumps(data["response"]).decode()
    assert parse_output(data).response["id"] == "msg_a-1"


def test_a_row_with_status_text_is_errored_with_the_parsed_code():
    row = parse_output(orjson.loads(line("a-2", BAD_REQUEST)))
    assert row.status == "errored"
    assert row.error["code"] == 400


def rows_by_id(rows):
    return {row.custom_id: row for row in rows}


@pytest.fixture(params=["streaming", "partitioned"], autouse=True)
def join_path(request, monkeypatch):
    """Every join behaviour holds on both paths: streamed (hash index) and spilled to disk."""
    if request.param == "partitioned":
        monkeypatch.setattr(collect, "STREAMING_MAX_ROWS", 0)
        monkeypatch.setattr(collect, "PARTITION_ROWS", 7)
    else:
        monkeypatch.setattr(collect, "CHUNK_ROWS", 5)
    return request.param


def test_results_are_joined_by_custom_id_not_by_order():
    outputs = [keyed_lines([line("c", text="C"), line("a", text="A"), line("b", text="B")])]
    rows = rows_by_id(join_results(outputs, lambda: [b"a", b"b", b"c"]))
    assert {k: r.response["content"][0]["text"] for k, r in rows.items()} == {"a": "A", "b": "B", "c": "C"}


def test_an_input_without_an_output_line_is_reported_missing():
    stats = JoinStats()
    rows = rows_by_id(join_results([keyed_lines([line("a")])], lambda: [b"a", b"b"], stats=stats))
    assert rows["b"].status == "errored" and rows["b"].error["type"] == "missing"
    assert stats.missing == 1


def test_an_output_line_for_an_id_never_submitted_is_counted_and_dropped():
    stats = JoinStats()
    rows = rows_by_id(join_results([keyed_lines([line("a"), line("zz")])], lambda: [b"a"], stats=stats))
    assert list(rows) == ["a"] and stats.unknown == 1 and stats.unknown_examples == ["zz"]


def test_the_newest_round_wins_for_a_retried_row():
    first = keyed_lines([line("a"), line("b", BAD_REQUEST)])
    retry = keyed_lines([line("b", text="second try")])
    rows = rows_by_id(join_results([retry, first], lambda: [b"a", b"b"]))
    assert rows["b"].succeeded and rows["b"].response["content"][0]["text"] == "second try"
    assert rows["a"].succeeded


def test_each_custom_id_appears_once_however_the_work_is_cut():
    ids = [f"r-{i}" for i in range(200)]
    outputs = [keyed_lines([line(i) for i in reversed(ids[:150])] + [line("r-3")])]
    stats = JoinStats()
    rows = list(join_results(outputs, lambda: [i.encode() for i in ids], estimate=200, stats=stats))
    assert sorted(r.custom_id for r in rows) == sorted(ids)
    assert sum(r.succeeded for r in rows) == 150 and stats.missing == 50
    assert stats.duplicates == 1


@pytest.mark.parametrize("blank", [b"", b"   "])
def test_blank_output_lines_are_ignored(blank):
    assert next(iter(keyed_lines([blank, line("a")])))[0] == b"a"


@pytest.mark.parametrize(
    "text",
    [
        b'{"custom_id":"a-1","status":""}',
        b'{"status": "", "custom_id": "a-1"}',
        b'{"request":{"tools":[{"input_schema":{"custom_id":"x"}}]},"custom_id":"a-1"}',
        b'{"custom_id":"a\\u002d1"}',
        b'{"custom_id":"a-1","request":{"metadata":{"custom_id":"other"}}}',
    ],
)
def test_the_custom_id_of_a_line_is_found_however_it_is_written(text):
    assert collect.line_custom_id(text) in (b"a-1",)


def test_usage_is_kept_as_anthropic_sent_it():
    data = orjson.loads(line("a-1"))
    data["response"]["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 0}
    assert parse_output(data).usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0}
