"""One call of a rendered request through the official SDK, and the ResultRow it becomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from runner.records import Request, ResultRow

# Body keys the SDK takes as arguments; everything else (anthropic_version, system,
# tools, ...) travels untouched in extra_body, so no key of a rendered body is lost.
_ARGUMENTS = ("max_tokens", "messages")


async def call_once(
    client, model: str, request: Request, *, streaming: bool, timeout: float
) -> dict[str, Any]:
    """Send `request` once (no SDK retries) and return the Anthropic Message as JSON.

    A failed stream raises: the partial output it had produced is dropped with it.
    """
    body = request.body
    extra = {k: v for k, v in body.items() if k not in _ARGUMENTS}
    async with asyncio.timeout(timeout):
        if streaming:
            async with client.messages.stream(
                model=model,
                max_tokens=body["max_tokens"],
                messages=body["messages"],
                extra_body=extra,
                timeout=timeout,
            ) as stream:
                message = await stream.get_final_message()
            return message.model_dump(mode="json", exclude_none=True)
        raw = await client.messages.with_raw_response.create(
            model=model,
            max_tokens=body["max_tokens"],
            messages=body["messages"],
            extra_body=extra,
            timeout=timeout,
        )
        # The wire JSON itself: no round trip through the SDK's models.
        import orjson

        return orjson.loads(raw.http_response.content)


def usage_of(message: dict[str, Any]) -> dict[str, int]:
    """The integer counters of a Message's usage (nested objects left out)."""
    usage = message.get("usage") or {}
    return {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}


def succeeded(request: Request, message: dict[str, Any], attempts: int, latency_s: float) -> ResultRow:
    return ResultRow(
        custom_id=request.custom_id,
        status="succeeded",
        response=message,
        stop_reason=message.get("stop_reason"),
        usage=usage_of(message),
        attempts=attempts,
        latency_ms=round(latency_s * 1000.0, 3),
        processed_time=now_rfc3339(),
        kept=request.kept,
    )


def errored(request: Request, error: dict[str, Any], attempts: int, latency_s: float | None) -> ResultRow:
    return ResultRow(
        custom_id=request.custom_id,
        status="errored",
        error=error,
        attempts=attempts,
        latency_ms=None if latency_s is None else round(latency_s * 1000.0, 3),
        processed_time=now_rfc3339(),
        kept=request.kept,
    )


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
