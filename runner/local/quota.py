"""Vertex AI online-prediction quotas: requests, input tokens and output tokens per minute.

One token bucket per (base model, location) and metric: it holds at most one
minute of quota and refills continuously, which is the sliding-window
behaviour callers observe. Limits come from the server config, else from the
model catalog (`runner.spec.catalog`, when present), else unlimited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from runner.local.config import Quota, ServerConfig, catalog_or_none

METRICS = {
    "requests_per_minute": "online_prediction_requests_per_base_model",
    "input_tokens_per_minute": "online_prediction_input_tokens_per_minute_per_base_model",
    "output_tokens_per_minute": "online_prediction_output_tokens_per_minute_per_base_model",
}


def base_model(model: str) -> str:
    """Vertex's quota dimension: `claude-3-5-haiku@20241022` -> `anthropic-claude-3-5-haiku`."""
    return "anthropic-" + model.split("@", 1)[0]


def _catalog_quota(model: str) -> Quota | None:
    known = catalog_or_none()
    entry = known.get(model) if known is not None else None
    quota = getattr(entry, "quota", None)
    if quota is None:
        return None
    return Quota(**{name: getattr(quota, name, None) for name in METRICS})


def limits_for(config: ServerConfig, model: str) -> Quota:
    """The configured limits for `model`: exact id, then base id, then `*`, then the catalog."""
    for key in (model, model.split("@", 1)[0], "*"):
        if key in config.quotas:
            return config.quotas[key]
    if config.use_catalog_quotas:
        return _catalog_quota(model) or Quota()
    return Quota()


class _Bucket:
    __slots__ = ("capacity", "level", "stamp")

    def __init__(self, per_minute: int, now: float):
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.stamp = now

    def refill(self, now: float) -> float:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.capacity / 60.0)
            self.stamp = now
        return self.level


@dataclass(frozen=True)
class QuotaRefusal:
    metric: str  # e.g. online_prediction_requests_per_base_model
    base_model: str  # e.g. anthropic-claude-3-5-haiku


class QuotaBook:
    """Admits or refuses predict requests; output tokens are charged once the reply is known."""

    def __init__(self, config: ServerConfig, clock=time.monotonic):
        self.config = config
        self.clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._limits: dict[str, Quota] = {}

    def _bucket(self, model: str, location: str, field: str, now: float) -> _Bucket | None:
        limits = self._limits.get(model)
        if limits is None:
            limits = self._limits[model] = limits_for(self.config, model)
        per_minute = getattr(limits, field)
        if per_minute is None:
            return None
        key = (base_model(model), location, field)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(per_minute, now)
        return bucket

    def admit(self, model: str, location: str, input_tokens: int) -> QuotaRefusal | None:
        """Charge one request and its input tokens, or say which quota is exhausted."""
        now = self.clock()
        needs = (
            ("requests_per_minute", 1.0),
            ("input_tokens_per_minute", float(input_tokens)),
            ("output_tokens_per_minute", 1.0),
        )
        buckets = []
        for field, amount in needs:
            bucket = self._bucket(model, location, field, now)
            if bucket is not None and bucket.refill(now) < amount:
                return QuotaRefusal(METRICS[field], base_model(model))
            buckets.append((bucket, amount))
        for (bucket, amount), (field, _) in zip(buckets, needs):
            if bucket is not None and field != "output_tokens_per_minute":
                bucket.level -= amount
        return None

    def charge_output(self, model: str, location: str, output_tokens: int) -> None:
        now = self.clock()
        bucket = self._bucket(model, location, "output_tokens_per_minute", now)
        if bucket is not None:
            bucket.refill(now)
            bucket.level -= output_tokens  # may go negative: later requests wait for the refill
