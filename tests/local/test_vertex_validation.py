"""Requests Vertex refuses: bad auth, unknown model, bad bodies, bad beta headers, oversize."""

from __future__ import annotations

import anthropic
import httpx
import pytest

HAIKU = "claude-3-5-haiku@20241022"
PROMPT = [{"role": "user", "content": "Hello"}]


async def _post(url: str, body, headers: dict | None = None) -> httpx.Response:
    headers = {"Authorization": "Bearer x", **(headers or {})}
    async with httpx.AsyncClient() as http:
        return await http.post(url, json=body, headers=headers)


def _invalid_request(message: str) -> dict:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


async def test_missing_bearer_token_is_401_in_googles_shape(vertex, body):
    async with httpx.AsyncClient() as http:
        response = await http.post(vertex.predict_url(), json=body)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"


async def test_model_in_the_rawpredict_body_is_400(vertex, body):
    response = await _post(vertex.predict_url(), dict(body, model=HAIKU))

    assert response.status_code == 400
    assert response.json() == _invalid_request("model: Extra inputs are not permitted")


@pytest.mark.parametrize("field", ["anthropic_version", "max_tokens", "messages"])
async def test_missing_required_field_is_400_invalid_request_error(vertex, body, field):
    del body[field]
    response = await _post(vertex.predict_url(), body)

    assert response.status_code == 400
    assert response.json() == _invalid_request(f"{field}: Field required")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"anthropic_version": "bedrock-2023-05-31"},
            "anthropic_version: Input should be 'vertex-2023-10-16'",
        ),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"max_tokens": "many"}, "max_tokens: Input should be a valid integer"),
        ({"messages": []}, "messages: at least one message is required"),
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 512}, "max_tokens": 2000},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048},
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
        ),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "max_tokens": 2000,
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
            },
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
    ],
)
async def test_invalid_field_is_400_invalid_request_error(vertex, body, change, message):
    response = await _post(vertex.predict_url(), dict(body, **change))

    assert response.status_code == 400
    assert response.json() == _invalid_request(message)


async def test_sdk_raises_bad_request_without_retrying(vertex):
    client = vertex.client(max_retries=2)
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(model=HAIKU, max_tokens=0, messages=PROMPT)

    assert len(vertex.requests()) == 1


async def test_unknown_model_is_404_in_googles_shape(vertex, body):
    response = await _post(vertex.predict_url(model="claude-nonexistent@20990101"), body)

    assert response.status_code == 404
    name = (
        f"projects/{vertex.project}/locations/us-east5/publishers/anthropic/models/"
        "claude-nonexistent@20990101"
    )
    assert response.json() == {
        "error": {"code": 404, "message": f"Publisher Model `{name}` not found.", "status": "NOT_FOUND"}
    }


async def test_model_outside_its_catalog_regions_is_404(vertex, body):
    response = await _post(vertex.predict_url(region="asia-northeast1"), body)

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


async def test_max_tokens_above_the_models_limit_is_400(vertex, body):
    response = await _post(vertex.predict_url(), dict(body, max_tokens=8193))

    assert response.status_code == 400
    assert response.json() == _invalid_request(
        f"max_tokens: 8193 > 8192, which is the maximum allowed number of output tokens for {HAIKU}"
    )


async def test_prompt_longer_than_the_context_window_is_400(vertex, body):
    vertex.configure(quotas={"*": {}})
    body["messages"][0]["content"] = "word " * 170_000  # 212,500 tokens > 200,000
    response = await _post(vertex.predict_url(), body)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("prompt is too long: ")


async def test_configured_models_replace_the_catalog(vertex, body):
    vertex.configure(models=["claude-test-model"])

    assert (
        await _post(vertex.predict_url(model="claude-test-model", region="mars-west1"), body)
    ).status_code == 200
    assert (await _post(vertex.predict_url(), body)).status_code == 404


async def test_disabled_model_is_400_failed_precondition(vertex, body):
    vertex.configure(disabled_models=[HAIKU])
    response = await _post(vertex.predict_url(), body)

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"


async def test_unsupported_beta_header_is_400_and_supported_one_passes(vertex):
    client = vertex.client()
    with pytest.raises(anthropic.BadRequestError, match="no-such-beta"):
        await client.messages.create(
            model=HAIKU,
            max_tokens=10,
            messages=PROMPT,
            extra_headers={"anthropic-beta": "no-such-beta-2099-01-01"},
        )
    message = await client.messages.create(
        model=HAIKU, max_tokens=10, messages=PROMPT, extra_headers={"anthropic-beta": "context-1m-2025-08-07"}
    )
    assert message.content


async def test_payload_over_the_limit_is_413(vertex, body):
    vertex.configure(max_body_bytes=2_000)
    body["messages"][0]["content"] = "x" * 3_000
    response = await _post(vertex.predict_url(), body)

    assert response.status_code == 413


async def test_count_tokens_on_the_global_location_is_rejected(vertex):
    client = vertex.client(region="global")
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.count_tokens(model=HAIKU, messages=PROMPT)


async def test_count_tokens_for_an_unknown_model_is_404(vertex):
    with pytest.raises(anthropic.NotFoundError):
        await vertex.client().messages.count_tokens(model="claude-nonexistent", messages=PROMPT)
