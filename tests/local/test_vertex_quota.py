"""Per-model, per-location quotas answered with Vertex's exact 429 RESOURCE_EXHAUSTED body."""

from __future__ import annotations

import anthropic
import httpx
import pytest

HAIKU = "claude-3-5-haiku@20241022"
PROMPT = [{"role": "user", "content": "Hello"}]
HELP = (
    "Please submit a quota increase request. "
    "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)


def _quota_body(metric: str, base_model: str = "anthropic-claude-3-5-haiku") -> dict:
    return {
        "error": {
            "code": 429,
            "message": f"Quota exceeded for aiplatform.googleapis.com/{metric} "
            f"with base model: {base_model}. {HELP}",
            "status": "RESOURCE_EXHAUSTED",
        }
    }


async def test_requests_past_the_rpm_get_vertex_429_without_retry_headers(vertex):
    vertex.configure(quotas={HAIKU: {"requests_per_minute": 3}})
    client = vertex.client()
    for _ in range(3):
        await client.messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError) as raised:
        await client.messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)

    response = raised.value.response
    assert response.json() == _quota_body("online_prediction_requests_per_base_model")
    assert not any(h.lower().startswith(("retry-after", "anthropic-ratelimit")) for h in response.headers)
    assert vertex.stats()["quota_exceeded"] == 1


async def test_input_token_quota_uses_its_own_metric(vertex, body):
    vertex.configure(quotas={"*": {"input_tokens_per_minute": 5}})
    body["messages"][0]["content"] = "x" * 400  # ~100 input tokens, more than a minute's quota
    async with httpx.AsyncClient() as http:
        response = await http.post(vertex.predict_url(), json=body, headers={"Authorization": "Bearer x"})

    assert response.status_code == 429
    assert response.json() == _quota_body("online_prediction_input_tokens_per_minute_per_base_model")


async def test_output_token_quota_refuses_once_a_minute_of_output_is_spent(vertex):
    vertex.configure(quotas={HAIKU: {"output_tokens_per_minute": 10}})
    client = vertex.client()
    await client.messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)  # spends > 10 tokens
    with pytest.raises(anthropic.RateLimitError) as raised:
        await client.messages.create(model=HAIKU, max_tokens=50, messages=PROMPT)

    assert raised.value.response.json() == _quota_body(
        "online_prediction_output_tokens_per_minute_per_base_model"
    )


async def test_quota_is_per_location_and_per_base_model(vertex):
    vertex.configure(quotas={"*": {"requests_per_minute": 1}})
    await vertex.client().messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)

    # Another location and another model each have their own minute.
    await vertex.client(region="europe-west1").messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)
    await vertex.client().messages.create(model="claude-sonnet-4@20250514", max_tokens=5, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError) as raised:
        await vertex.client().messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)
    assert "anthropic-claude-3-5-haiku" in raised.value.response.json()["error"]["message"]


async def test_sdk_retries_a_quota_429_then_gives_up(vertex):
    vertex.configure(quotas={HAIKU: {"requests_per_minute": 1}})
    client = vertex.client(max_retries=1)
    await client.messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(model=HAIKU, max_tokens=5, messages=PROMPT)

    assert [r["status"] for r in vertex.requests()] == [200, 429, 429]


def test_a_spent_minute_refills_continuously():
    from runner.local.config import Quota, ServerConfig
    from runner.local.quota import QuotaBook

    now = [100.0]
    book = QuotaBook(ServerConfig(quotas={"*": Quota(requests_per_minute=60)}), clock=lambda: now[0])
    assert all(book.admit(HAIKU, "us-east5", 1) is None for _ in range(60))
    assert book.admit(HAIKU, "us-east5", 1) is not None

    now[0] += 1.0  # one second refills one request of a 60/min quota
    assert book.admit(HAIKU, "us-east5", 1) is None
    assert book.admit(HAIKU, "us-east5", 1) is not None
