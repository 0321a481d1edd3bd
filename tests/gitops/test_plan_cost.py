"""Plan arithmetic: cost from catalog prices, batch discount, extrapolation from a sample."""

from __future__ import annotations

import pytest

from runner.plan import estimate_cost, extrapolate

PRICES = {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3}


def test_stream_cost_is_input_and_output_tokens_at_per_million_prices():
    assert estimate_cost(PRICES, 1_000_000, 100_000, batch=False, batch_discount=0.5) == \
        pytest.approx(3.0 + 1.5)


def test_batch_cost_takes_the_batch_discount():
    assert estimate_cost(PRICES, 1_000_000, 100_000, batch=True, batch_discount=0.5) == \
        pytest.approx((3.0 + 1.5) * 0.5)


def test_a_zero_batch_discount_prices_batch_like_stream():
    assert estimate_cost(PRICES, 2_000, 1_000, batch=True, batch_discount=0.0) == \
        estimate_cost(PRICES, 2_000, 1_000, batch=False, batch_discount=0.0)


def test_extrapolation_scales_every_estimate_by_the_counted_to_estimated_ratio_of_the_sample():
    # 1000 requests estimated at 50_000 tokens; the sample of 10 estimated 500, counted 600.
    assert extrapolate(50_000, 500, 600, 10, 1000) == 60_000


def test_extrapolation_falls_back_to_the_sample_mean_when_estimates_are_zero():
    assert extrapolate(0, 0, 70, 7, 100) == 1000
