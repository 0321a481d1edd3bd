"""The one retry policy of stream mode: classify a failed attempt, then wait with full jitter.

The SDK's own retries are off (`Target.anthropic`), so every attempt passes
through here and through the limiter: a retry is never sent behind the
limiter's back, and concurrent retries never fire in step.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

# Anthropic error types that mean "try again later" when they arrive as an SSE `error` event.
RETRYABLE_ERROR_TYPES = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error", "internal_server_error"}
)


@dataclass(frozen=True)
class CallFailure:
    """One failed attempt, classified."""

    kind: str  # rate_limited | overloaded | server_error | stream_error | connection | timeout | fatal
    retryable: bool
    message: str
    code: int | None = None  # HTTP status when there was one
    error_type: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait

    def to_error(self) -> dict[str, Any]:
        """The `error` of an errored ResultRow."""
        return {"type": self.error_type or self.kind, "message": self.message, "code": self.code}


def classify(exc: BaseException) -> CallFailure:
    """Map an exception raised by one SDK call to a CallFailure; unknown exceptions are re-raised."""
    import anthropic

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, anthropic.APITimeoutError)):
        return CallFailure("timeout", True, "the call timed out (no response or a stalled stream)")
    if isinstance(exc, anthropic.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, anthropic.APIConnectionError) or _is_transport_error(exc):
        return CallFailure("connection", True, f"connection failed: {type(exc).__name__}: {exc}".strip())
    raise exc


def _classify_status(exc) -> CallFailure:
    status = exc.status_code
    error_type, message = _error_fields(exc.body, str(exc))
    retry_after = parse_retry_after(exc.response.headers if exc.response is not None else {})
    if status == 200:
        # An SSE `error` event after the stream started: Vertex's overload/internal errors.
        retryable = error_type in RETRYABLE_ERROR_TYPES or error_type is None
        return CallFailure(
            "stream_error" if retryable else "fatal", retryable, message, status, error_type, retry_after
        )
    if status == 429:
        return CallFailure("rate_limited", True, message, status, error_type or "rate_limited", retry_after)
    if status == 529 or error_type == "overloaded_error":
        return CallFailure("overloaded", True, message, status, error_type or "overloaded_error", retry_after)
    if status >= 500 or status in (408, 409):
        return CallFailure("server_error", True, message, status, error_type or "api_error", retry_after)
    return CallFailure("fatal", False, message, status, error_type or _fatal_type(status))


def _fatal_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
    }.get(status, "invalid_request_error")


def _error_fields(body: Any, fallback: str) -> tuple[str | None, str]:
    """(error type, message) from an Anthropic-shaped or Google-shaped error body."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            error_type = err.get("type") or err.get("status")
            message = err.get("message") or fallback
            return (str(error_type) if error_type else None), str(message)
    return None, fallback


def _is_transport_error(exc: BaseException) -> bool:
    """httpx(2) transport and stream errors raised while a streamed body is being read."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("httpx") and cls.__name__ in (
            "TransportError",
            "StreamError",
            "RemoteProtocolError",
            "ReadError",
        ):
            return True
    return False


def parse_retry_after(headers) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None if absent."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import datetime as dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**n)).

    Full jitter (rather than "equal" or none) spreads the retries of many
    rows that failed together across the whole window, so they never return
    as one burst. A server's retry-after is a floor, with jitter added on top.
    """

    base: float = 1.0
    cap: float = 60.0

    def delay(self, retry_number: int, failure: CallFailure, rng: random.Random) -> float:
        window = min(self.cap, self.base * (2 ** max(0, retry_number - 1)))
        delay = rng.uniform(0.0, window)
        if failure.retry_after is not None:
            delay = min(self.cap, failure.retry_after) + rng.uniform(0.0, self.base)
        return delay
