"""rawPredict, streamRawPredict and count-tokens, driven by the official Anthropic Vertex client."""

from __future__ import annotations

import httpx
import pytest

from runner.local import claude_sim

HAIKU = "claude-3-5-haiku@20241022"

PROMPT = [{"role": "user", "content": "Write one sentence about the sea."}]


async def test_create_returns_a_complete_message_from_the_rawpredict_url(vertex):
    message = await vertex.client().messages.create(model=HAIKU, max_tokens=100, messages=PROMPT)

    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_vrtx_")
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.output_tokens > 0
    [seen] = vertex.requests()
    assert seen["path"] == (
        f"/v1/projects/{vertex.project}/locations/us-east5/publishers/anthropic/models/{HAIKU}:rawPredict"
    )
    assert seen["raw_path"] == seen["path"]  # the SDK sends `@` unencoded
    assert seen["headers"]["authorization"] == "Bearer test-token"
    assert "model" not in seen["body"]
    assert seen["body"]["anthropic_version"]


async def test_stream_yields_the_same_message_as_create(vertex):
    client = vertex.client()
    created = await client.messages.create(model=HAIKU, max_tokens=100, messages=PROMPT)
    async with client.messages.stream(model=HAIKU, max_tokens=100, messages=PROMPT) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        streamed = await stream.get_final_message()

    assert streamed.to_dict(exclude_none=True) == created.to_dict(exclude_none=True)
    assert text == created.content[0].text
    assert vertex.requests()[-1]["path"].endswith(f"/models/{HAIKU}:streamRawPredict")


async def test_stream_sends_named_events_including_ping_and_vertex_event(vertex, body):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            vertex.predict_url(action="streamRawPredict"), json=body, headers={"Authorization": "Bearer x"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [
        line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")
    ]
    data_lines = [line for line in response.text.splitlines() if line.startswith("data: ")]

    assert len(names) == len(data_lines)
    assert names[:4] == ["message_start", "vertex_event", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in names


async def test_message_delta_carries_stop_reason_and_output_tokens(vertex):
    async with vertex.client().messages.stream(model=HAIKU, max_tokens=5, messages=PROMPT) as stream:
        deltas = [event async for event in stream if event.type == "message_delta"]

    assert [d.delta.stop_reason for d in deltas] == ["max_tokens"]
    assert deltas[0].usage.output_tokens == 5


async def test_count_tokens_keeps_the_model_in_the_body_and_matches_usage(vertex):
    client = vertex.client()
    counted = await client.messages.count_tokens(model=HAIKU, messages=PROMPT)
    message = await client.messages.create(model=HAIKU, max_tokens=20, messages=PROMPT)

    assert counted.input_tokens == message.usage.input_tokens
    seen = vertex.requests()[0]
    assert seen["path"].endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert seen["body"]["model"] == HAIKU


async def test_global_location_serves_predictions(vertex):
    message = await vertex.client(region="global").messages.create(
        model="claude-sonnet-4-6", max_tokens=20, messages=PROMPT
    )

    assert message.content[0].text
    assert "/locations/global/" in vertex.requests()[0]["path"]


@pytest.mark.parametrize("encoded_model", [HAIKU.replace("@", "%40"), HAIKU])
async def test_percent_encoded_paths_and_alt_query_are_accepted(vertex, body, encoded_model):
    url = vertex.predict_url(model=encoded_model) + "?%24alt=json%3Benum-encoding%3Dint"
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=body, headers={"Authorization": "Bearer x"})

    assert response.status_code == 200
    assert response.json()["model"] == HAIKU
    seen = vertex.requests()[0]
    assert encoded_model in seen["raw_path"]
    assert seen["path"].endswith(f"/models/{HAIKU}:rawPredict")


async def test_reply_matches_the_simulator_used_by_batch_rows(vertex, body):
    async with httpx.AsyncClient() as http:
        response = await http.post(vertex.predict_url(), json=body, headers={"Authorization": "Bearer x"})

    assert response.json() == claude_sim.reply(body, HAIKU)


async def test_large_bodies_are_read_whole(vertex):
    big = "word " * 150_000  # 750 KB, arrives in many chunks
    vertex.configure(quotas={"*": {}})  # more input tokens than the catalog's minute allows
    message = await vertex.client().messages.create(
        model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": big}]
    )

    assert message.usage.input_tokens > 180_000
    assert vertex.requests()[0]["body"] == {"_truncated_bytes": pytest.approx(750_000, rel=0.01)}


async def test_paced_stream_still_yields_the_full_message(vertex):
    vertex.configure(time_to_first_token=0.05, tokens_per_second=5_000)
    client = vertex.client()
    created = await client.messages.create(model=HAIKU, max_tokens=100, messages=PROMPT)
    async with client.messages.stream(model=HAIKU, max_tokens=100, messages=PROMPT) as stream:
        streamed = await stream.get_final_message()

    assert streamed.content[0].text == created.content[0].text
