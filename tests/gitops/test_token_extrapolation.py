"""Plan arithmetic: extrapolating counted tokens from a bounded sample."""

from __future__ import annotations

from runner.plan import extrapolate


def test_extrapolation_scales_every_estimate_by_the_counted_to_estimated_ratio_of_the_sample():
    # 1000 requests estimated at 50_000 tokens; the sample of 10 estimated 500, counted 600.
    assert extrapolate(50_000, 500, 600, 10, 1000) == 60_000


def test_extrapolation_falls_back_to_the_sample_mean_when_estimates_are_zero():
    assert extrapolate(0, 0, 70, 7, 100) == 1000
