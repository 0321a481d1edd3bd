"""Injected faults, each at rate 1.0, as the Anthropic SDK sees them; seeded and repeatable."""

from __future__ import annotations

import anthropic
import httpx
import httpx2  # the Anthropic SDK's HTTP transport
import pytest

HAIKU = "claude-3-5-haiku@20241022"
PROMPT = [{"role": "user", "content": "Tell me a long story."}]


def _fault(vertex, kind: str, **faults) -> None:
    vertex.configure(faults={"rates": {kind: 1.0}, **faults})


async def _drain(client, **kwargs) -> list:
    events = []
    async with client.messages.stream(model=HAIKU, max_tokens=200, messages=PROMPT, **kwargs) as stream:
        async for event in stream:
            events.append(event)
    return events


@pytest.mark.parametrize(
    "kind, status, error_class",
    [
        ("rate_limited", 429, anthropic.RateLimitError),
        ("overloaded", 529, anthropic.OverloadedError),
        ("server_error", 500, anthropic.InternalServerError),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_status_faults_reach_the_sdk_as_status_errors(vertex, kind, status, error_class, streaming):
    _fault(vertex, kind)
    client = vertex.client()
    with pytest.raises(error_class) as raised:
        if streaming:
            await _drain(client)
        else:
            await client.messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)

    assert raised.value.status_code == status
    assert vertex.stats()[f"fault.{kind}"] == 1


async def test_overloaded_fault_has_anthropics_body(vertex):
    _fault(vertex, "overloaded")
    with pytest.raises(anthropic.OverloadedError) as raised:
        await vertex.client().messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)

    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_sdk_retries_an_overloaded_answer(vertex):
    _fault(vertex, "overloaded")
    with pytest.raises(anthropic.OverloadedError):
        await vertex.client(max_retries=1).messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)

    assert [r["status"] for r in vertex.requests()] == [529, 529]


async def test_stream_error_arrives_after_http_200_during_iteration(vertex):
    _fault(vertex, "stream_error")
    seen = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        async with vertex.client().messages.stream(model=HAIKU, max_tokens=200, messages=PROMPT) as stream:
            async for event in stream:
                seen.append(event.type)

    assert seen[0] == "message_start"  # the stream had started: no retry is possible
    assert raised.value.status_code == 200
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_stream_error_does_not_affect_non_streaming_calls(vertex):
    _fault(vertex, "stream_error")
    message = await vertex.client().messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)

    assert message.content[0].text


async def test_dropped_connection_is_a_connection_error(vertex):
    _fault(vertex, "dropped_connection")
    with pytest.raises(anthropic.APIConnectionError):
        await vertex.client().messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)


async def test_dropped_connection_breaks_a_started_stream(vertex):
    _fault(vertex, "dropped_connection")
    seen = []
    # Once a stream has started the SDK passes transport errors through unwrapped.
    with pytest.raises(httpx2.RemoteProtocolError):
        async with vertex.client().messages.stream(model=HAIKU, max_tokens=200, messages=PROMPT) as stream:
            async for event in stream:
                seen.append(event.type)

    assert seen and seen[0] == "message_start" and "message_stop" not in seen


async def test_stalled_answer_times_out_with_a_short_client_timeout(vertex):
    _fault(vertex, "stalled_stream", stall_seconds=30)
    with pytest.raises(anthropic.APITimeoutError):
        await vertex.client(timeout=0.5).messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)


async def test_stalled_stream_times_out_mid_stream(vertex):
    _fault(vertex, "stalled_stream", stall_seconds=30)
    seen = []
    with pytest.raises(httpx2.ReadTimeout):
        async with vertex.client(timeout=0.5).messages.stream(
            model=HAIKU, max_tokens=200, messages=PROMPT
        ) as stream:
            async for event in stream:
                seen.append(event.type)

    assert seen[0] == "message_start" and "message_stop" not in seen


async def test_faults_follow_the_seed(vertex):
    async def statuses() -> list[int]:
        client = vertex.client()
        out = []
        for _ in range(16):
            try:
                await client.messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)
                out.append(200)
            except anthropic.APIStatusError as error:
                out.append(error.status_code)
        return out

    vertex.configure(faults={"seed": 7, "rates": {"overloaded": 0.5}})
    first = await statuses()
    vertex.configure(faults={"seed": 7, "rates": {"overloaded": 0.5}})  # re-seeds the RNG
    again = await statuses()
    vertex.configure(faults={"seed": 8, "rates": {"overloaded": 0.5}})
    other_seed = await statuses()

    assert first == again
    assert set(first) == {200, 529}
    assert other_seed != first


async def test_unknown_fault_kind_is_refused(vertex):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{vertex.url}/_local/config", json={"faults": {"rates": {"gremlins": 1.0}}}
        )

    assert response.status_code == 400
    assert "gremlins" in response.json()["error"]["message"]
