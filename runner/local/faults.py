"""What goes wrong, and how it looks on the wire: error bodies and seeded fault injection.

Error bodies come in two shapes, as on Vertex AI: Google's
`{"error": {"code", "message", "status"}}` for platform errors (auth, quota,
unknown model, internal) and Anthropic's `{"type": "error", "error": {"type",
"message"}}` for errors raised by the model service (validation, overload).
"""

from __future__ import annotations

import random

from runner.local.config import FAULT_KINDS, Faults

QUOTA_HELP = (
    "Please submit a quota increase request. "
    "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def google_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def quota_error(metric: str, base_model: str) -> dict:
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        f"Quota exceeded for aiplatform.googleapis.com/{metric} with base model: {base_model}. {QUOTA_HELP}",
    )


def overloaded() -> dict:
    return anthropic_error("overloaded_error", "Overloaded")


def internal_error() -> dict:
    return google_error(500, "INTERNAL", "Internal error encountered.")


def status_fault(kind: str | None, base_model: str) -> tuple[int, dict] | None:
    """The HTTP answer of a fault that replaces the whole response, or None for other kinds."""
    if kind == "rate_limited":
        return 429, quota_error("online_prediction_requests_per_base_model", base_model)
    if kind == "overloaded":
        return 529, overloaded()
    if kind == "server_error":
        return 500, internal_error()
    return None


class FaultPicker:
    """Draws at most one fault per predict request from one RNG seeded with `Faults.seed`."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._kinds = [
            (kind, float(faults.rates.get(kind, 0.0))) for kind in FAULT_KINDS if faults.rates.get(kind)
        ]

    def draw(self) -> str | None:
        """A fault kind or None; rates are cumulative in FAULT_KINDS order (first kinds win)."""
        if not self._kinds:
            return None
        roll = self._rng.random()
        for kind, rate in self._kinds:
            if roll < rate:
                return kind
            roll -= rate
        return None
