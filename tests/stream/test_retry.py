"""Each fault of the local Vertex AI server, raised through the official SDK, is classified right."""

from __future__ import annotations

import pytest
from stream_helpers import MODEL, QUIET

from runner.records import Request
from runner.stream.calls import call_once
from runner.stream.retry import classify, parse_retry_after

REQUEST = Request(
    "r1",
    {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hello"}],
    },
)


@pytest.fixture
async def client(vertex):
    """The runner's client for the module's server, closed in the test's own event loop (left to
    the garbage collector, its aiohttp session would be reported open in a later test)."""
    client = vertex.target().anthropic()
    yield client
    await client.close()


async def failure_for(client, vertex, *, streaming=True, timeout=30.0, model=MODEL, **config):
    vertex.configure(**{**QUIET, **config})
    with pytest.raises(Exception) as raised:
        await call_once(client, model, REQUEST, streaming=streaming, timeout=timeout)
    return classify(raised.value)


def fault(kind, **more):
    return {"faults": {"seed": 1, "rates": {kind: 1.0}, **more}}


@pytest.mark.parametrize("streaming", [True, False])
async def test_quota_429_is_retried_as_rate_limited(client, vertex, streaming):
    # The first call passes (the bucket holds one request); the second is refused.
    vertex.configure(**{**QUIET, "quotas": {"*": {"requests_per_minute": 1}}})
    await call_once(client, MODEL, REQUEST, streaming=streaming, timeout=30)
    with pytest.raises(Exception) as raised:
        await call_once(client, MODEL, REQUEST, streaming=streaming, timeout=30)
    f = classify(raised.value)
    assert (f.kind, f.retryable, f.code) == ("rate_limited", True, 429)
    assert "Quota exceeded" in f.message


async def test_injected_429_is_retried_as_rate_limited(client, vertex):
    f = await failure_for(client, vertex, **fault("rate_limited"))
    assert (f.kind, f.retryable, f.code) == ("rate_limited", True, 429)


async def test_529_overloaded_is_retried(client, vertex):
    f = await failure_for(client, vertex, **fault("overloaded"))
    assert (f.kind, f.retryable, f.code, f.error_type) == ("overloaded", True, 529, "overloaded_error")


async def test_500_is_retried_as_a_server_error(client, vertex):
    f = await failure_for(client, vertex, **fault("server_error"))
    assert (f.kind, f.retryable, f.code) == ("server_error", True, 500)


async def test_an_error_event_after_http_200_is_retried(client, vertex):
    f = await failure_for(client, vertex, **fault("stream_error"))
    assert (f.kind, f.retryable, f.error_type) == ("stream_error", True, "overloaded_error")


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_dropped_connection_is_retried(client, vertex, streaming):
    f = await failure_for(client, vertex, streaming=streaming, **fault("dropped_connection"))
    assert (f.kind, f.retryable) == ("connection", True)


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_stalled_response_times_out_and_is_retried(client, vertex, streaming):
    f = await failure_for(
        client, vertex, streaming=streaming, timeout=1.0, **fault("stalled_stream", stall_seconds=20)
    )
    assert (f.kind, f.retryable) == ("timeout", True)


async def test_a_model_not_enabled_fails_at_once_with_the_reason(client, vertex):
    f = await failure_for(client, vertex, disabled_models=[MODEL])
    assert (f.retryable, f.code) == (False, 400)
    assert f.to_error()["code"] == 400 and f.message


async def test_an_invalid_body_fails_at_once(client, vertex):
    vertex.configure(**QUIET)
    bad = Request("r1", {"max_tokens": 16, "messages": [{"role": "robot", "content": "x"}]})
    with pytest.raises(Exception) as raised:
        await call_once(client, MODEL, bad, streaming=True, timeout=30)
    f = classify(raised.value)
    assert (f.kind, f.retryable, f.code) == ("fatal", False, 400)


async def test_an_unknown_model_fails_at_once_as_not_found(client, vertex):
    f = await failure_for(client, vertex, model="claude-nonexistent-9")
    assert (f.retryable, f.code) == (False, 404)


def test_unknown_exceptions_are_not_swallowed():
    with pytest.raises(KeyError):
        classify(KeyError("bug"))


@pytest.mark.parametrize(
    "headers, seconds",
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_headers_are_read(headers, seconds):
    assert parse_retry_after(headers) == seconds


async def test_the_clients_calls_go_through_the_sdks_aiohttp_transport(client, vertex):
    """docs/stream.md#throughput-per-core: 40% less CPU a call than the SDK's default httpx transport;
    its errors still reach `classify` as httpx's classes (the tests above)."""
    from anthropic import DefaultAioHttpClient

    vertex.configure(**QUIET)
    assert isinstance(client._client, DefaultAioHttpClient)
    message = await call_once(client, MODEL, REQUEST, streaming=False, timeout=30)
    assert message["type"] == "message"
