"""Quota-aware admission for stream calls: three token buckets plus an adaptive concurrency limit.

Vertex counts requests, input tokens and output tokens per minute, per base
model and location. Before a call we *reserve* its estimate in all three
buckets (1 request, the input estimate, `max_tokens`); after it we *settle*
with the real usage, so a run paced on estimates converges on the true rate.
Buckets refill continuously at `headroom` x the quota and hold at most
`burst_seconds` of it, which keeps every 60-second window under the quota
whether the server counts in fixed or sliding windows. A bucket may go into
debt: a request larger than the burst still goes once the bucket is back at
zero, and the debt is paid before anything else is admitted.

On a 429 the limiter backs off multiplicatively (the rate by `decrease`,
concurrency by half; on a 529 overload only the concurrency), at most once per
`cooldown` so one burst of rejections counts once (repeated ones compound),
and then climbs back: the rate linearly over `recovery_seconds`, the
concurrency by +1 per success until the first congestion (slow start), by
+1/limit per success after it (additive increase).

The rate climbs back to a *ceiling*, not always to the full quota. The limiter
keeps what succeeded over the last `measure_seconds`; when a 429 comes while
that measured rate is below the rate we aimed at, the server's real quota is
lower than the spec says (or shared), so the ceiling becomes `hold` x the
measured rate (when the measured rate is below `hold` x the aim; otherwise the
ceiling is the aim). Above the ceiling the rate only probes, at `1 / probe_seconds`
of the quota per second, so a quota that grows back is found again without a
sawtooth of 429s around a quota that did not.

The arithmetic is synchronous and takes `now` as an argument so tests drive it
with a fake clock; `acquire()` is the thin asyncio wrapper around it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Limits:
    """Quota per minute; None is unlimited."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None

    def binding(self, cost: Cost) -> tuple[str, float] | None:
        """(name, requests per minute it allows) for the tightest quota at this cost per request."""
        candidates = []
        for name, limit, per_request in (
            ("requests_per_minute", self.requests_per_minute, cost.requests),
            ("input_tokens_per_minute", self.input_tokens_per_minute, cost.input_tokens),
            ("output_tokens_per_minute", self.output_tokens_per_minute, cost.output_tokens),
        ):
            if limit and per_request:
                candidates.append((name, limit / per_request))
        return min(candidates, key=lambda c: c[1]) if candidates else None


class TokenBucket:
    """A bucket refilled continuously at `rate_per_minute`; it holds at most `capacity` and may owe."""

    def __init__(self, rate_per_minute: float, capacity: float, now: float):
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, capacity)
        self.level = 0.0  # start empty: another run may just have used the server's window
        self._last = now

    def refill(self, now: float, scale: float = 1.0) -> None:
        if now > self._last:
            self.level = min(self.capacity, self.level + (now - self._last) * self.rate * scale)
        self._last = max(self._last, now)

    def wait_time(self, scale: float = 1.0) -> float:
        """Seconds until the level is back at zero (0 when it is not in debt)."""
        return 0.0 if self.level >= 0 else -self.level / (self.rate * scale)

    def take(self, amount: float) -> None:
        self.level -= amount

    def give_back(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)

    def drain(self) -> None:
        self.level = min(self.level, 0.0)


@dataclass
class Reservation:
    cost: Cost
    started: float


class Limiter:
    def __init__(
        self,
        limits: Limits,
        max_concurrency: int,
        *,
        clock=time.monotonic,
        headroom: float = 0.98,
        burst_seconds: float = 1.0,
        cooldown: float = 2.0,
        decrease: float = 0.85,
        recovery_seconds: float = 10.0,
        min_scale: float = 0.05,
        measure_seconds: float = 10.0,
        hold: float = 0.97,
        probe_seconds: float = 120.0,
    ):
        now = clock()
        self.clock = clock
        self.limits = limits
        self.max_concurrency = max(1, max_concurrency)
        self.cooldown = cooldown
        self.decrease = decrease
        self.recovery_seconds = recovery_seconds
        self.min_scale = min_scale
        self.buckets: dict[str, TokenBucket] = {}
        for name, limit in (
            ("requests", limits.requests_per_minute),
            ("input_tokens", limits.input_tokens_per_minute),
            ("output_tokens", limits.output_tokens_per_minute),
        ):
            if limit:
                rate = limit * headroom
                self.buckets[name] = TokenBucket(rate, rate * burst_seconds / 60.0, now)
        self.concurrency = float(min(self.max_concurrency, 4))
        self.slow_start = True
        self.in_flight = 0
        self.measure_seconds = measure_seconds
        self.hold = hold
        self.probe_seconds = probe_seconds
        self._started = now
        self._used: deque[tuple[float, Cost]] = deque()  # successes of the last measure_seconds
        self._scale_floor = 1.0  # rate scale right after the last back-off
        self._ceiling = 1.0  # where the rate climbs back to after it
        self._backed_off_at: float | None = None  # last back-off of any kind
        self._rate_backed_off_at = 0.0
        self._changed: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    # -- arithmetic (synchronous, clock passed in) ----------------------------

    def scale(self, now: float) -> float:
        """The fraction of the quota we currently aim for (1.0 unless recovering from a 429):
        linearly from the back-off floor to the ceiling over `recovery_seconds`, then probing."""
        if self._scale_floor >= 1.0:
            return 1.0
        elapsed = max(0.0, now - self._rate_backed_off_at)
        if elapsed < self.recovery_seconds:
            climbed = elapsed / self.recovery_seconds
            return min(1.0, self._scale_floor + (self._ceiling - self._scale_floor) * climbed)
        return min(1.0, self._ceiling + (elapsed - self.recovery_seconds) / self.probe_seconds)

    def measured_scale(self, now: float) -> float | None:
        """What succeeded over the last `measure_seconds`, as a fraction of the quota (the most
        used bucket); None before a second of history."""
        self._forget_before(now - self.measure_seconds)
        span = min(self.measure_seconds, now - self._started)
        if span < 1.0 or not self.buckets:
            return None
        return max(
            sum(getattr(cost, name) for _, cost in self._used) / span / bucket.rate
            for name, bucket in self.buckets.items()
        )

    def try_reserve(self, cost: Cost, now: float) -> Reservation | float:
        """Reserve `cost` now, or return how long to wait (inf: wait for a call to finish)."""
        if self.in_flight >= int(self.concurrency):
            return float("inf")
        scale = self.scale(now)
        for bucket in self.buckets.values():
            bucket.refill(now, scale)
        wait = max((b.wait_time(scale) for b in self.buckets.values()), default=0.0)
        if wait > 0:
            return max(wait, 1e-3)  # float dust must not turn into a busy loop
        for name, bucket in self.buckets.items():
            bucket.take(getattr(cost, name))
        self.in_flight += 1
        return Reservation(cost, now)

    def settle(self, reservation: Reservation, used: Cost, now: float) -> None:
        """The call succeeded: correct the reservation with the real usage and grow concurrency."""
        self._finish(now)
        self._correct(reservation.cost, used)
        self._used.append((now, used))
        self._forget_before(now - self.measure_seconds)
        if self.slow_start:
            self.concurrency = min(self.max_concurrency, self.concurrency + 1.0)
        else:
            self.concurrency = min(self.max_concurrency, self.concurrency + 1.0 / max(1.0, self.concurrency))

    def fail(self, reservation: Reservation, now: float, kind: str | None = None) -> None:
        """The call failed; tokens it never used go back.

        `rate_limited` (a 429: the quota is tighter than we think, or shared)
        backs off the rate and the concurrency; `overloaded` (529: the backend
        is short of capacity, not our quota) backs off the concurrency only.
        """
        self._finish(now)
        self._correct(reservation.cost, Cost(reservation.cost.requests, 0, 0))
        if kind not in ("rate_limited", "overloaded"):
            return
        self.slow_start = False
        if self._backed_off_at is not None and now - self._backed_off_at < self.cooldown:
            return  # the same burst of rejections: back off once
        self._backed_off_at = now
        self.concurrency = max(1.0, self.concurrency * 0.5)
        if kind == "rate_limited":
            aimed, measured = self.scale(now), self.measured_scale(now)
            if measured is not None and measured < aimed * self.hold:
                # Refused below the rate we aimed at: the real quota is about what got through.
                self._ceiling = max(self.min_scale, min(1.0, measured * self.hold))
            else:
                self._ceiling = aimed
            self._scale_floor = max(self.min_scale, self._ceiling * self.decrease)
            self._rate_backed_off_at = now
            for bucket in self.buckets.values():
                bucket.drain()

    def _forget_before(self, moment: float) -> None:
        """Keep only the successes of the measuring window (memory stays bounded)."""
        while self._used and self._used[0][0] <= moment:
            self._used.popleft()

    def _correct(self, reserved: Cost, used: Cost) -> None:
        for name, bucket in self.buckets.items():
            delta = getattr(reserved, name) - getattr(used, name)
            if delta > 0:
                bucket.give_back(delta)
            elif delta < 0:
                bucket.take(-delta)

    def _finish(self, now: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if self._changed is not None:
            self._changed.set()

    # -- asyncio wrapper --------------------------------------------------------

    async def acquire(self, cost: Cost) -> Reservation:
        """Wait (FIFO) until `cost` fits under every quota and the concurrency limit."""
        if self._lock is None or self._changed is None:
            self._lock, self._changed = asyncio.Lock(), asyncio.Event()
        changed = self._changed
        async with self._lock:
            while True:
                changed.clear()
                got = self.try_reserve(cost, self.clock())
                if isinstance(got, Reservation):
                    return got
                # Woken early by any finishing call: its refund may be what we wait for.
                try:
                    await asyncio.wait_for(changed.wait(), timeout=None if got == float("inf") else got)
                except TimeoutError:
                    pass
