"""The report's one-pass statistics: exact counts, bounded memory, the chart each schema field gets."""

from __future__ import annotations

import random

import pytest

from runner.gitops.report_stats import (
    ERROR_EXAMPLES,
    SAMPLE_ERRORED,
    SAMPLE_SUCCEEDED,
    Histogram,
    ReportStats,
    TopValues,
    answer_fields,
    answer_text,
    field_stats,
)
from runner.records import ResultRow

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "how-to", "account"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "details": {"type": "object", "properties": {"blocked": {"type": "boolean"}}},
        "free": {"type": "object"},
    },
}


def typed_row(i: int, answer: dict | None = None, **kw) -> ResultRow:
    import json

    answer = answer or {
        "category": ["billing", "bug", "how-to", "account"][i % 4],
        "priority": 1 + i % 4,
        "urgent": i % 3 == 0,
        "summary": f"summary {i % 7}",
        "tags": ["a", "b"][: i % 3],
    }
    return ResultRow(
        custom_id=f"t-{i}",
        status="succeeded",
        response={"content": [{"type": "text", "text": json.dumps(answer)}]},
        answer=answer,
        stop_reason="end_turn",
        usage={"input_tokens": 10, "output_tokens": 5 + i % 10},
        latency_ms=100.0 + i,
        **kw,
    )


def error_row(i: int, kind: str = "overloaded_error") -> ResultRow:
    return ResultRow(
        custom_id=f"e-{i}", status="errored", error={"type": kind, "message": f"{kind} {i}", "code": 529}
    )


def test_a_histogram_counts_each_value_exactly_while_values_are_few():
    h = Histogram(max_bins=10)
    for v in [1, 2, 2, 3, 3, 3]:
        h.add(v)
    assert h.exact
    assert h.bins() == [(1, 1, 1), (2, 2, 2), (3, 3, 3)]
    assert h.categorical
    assert h.quantile(0.5) == 2


def test_few_integers_get_one_bar_per_integer_and_few_fractions_get_round_bins():
    gaps = Histogram(max_bins=10)
    for v in [1, 4]:
        gaps.add(v)
    assert gaps.bins() == [(1, 1, 1), (2, 2, 0), (3, 3, 0), (4, 4, 1)]
    latencies = Histogram(max_bins=10)
    for v in [18.7, 25.1, 716.0, 802.0, 822.0]:
        latencies.add(v)
    bins = latencies.bins()
    assert not latencies.categorical
    assert bins[0][0] == 0 and bins[-1][1] >= 822 and sum(c for *_, c in bins) == 5
    assert all(high - low == 200 for low, high, _ in bins)
    assert latencies.quantile(0.5) == 716.0  # exact while the values are few


def test_a_histogram_coarsens_its_bins_but_keeps_every_count_and_the_bin_limit():
    h = Histogram(max_bins=20)
    rng = random.Random(4)
    values = [rng.uniform(-50, 5000) for _ in range(20_000)] + [1e6]
    for v in values:
        h.add(v)
    bins = h.bins()
    assert not h.exact
    assert len(bins) <= 20
    assert sum(c for *_, c in bins) == len(values)
    for low, high, count in bins:  # every value is counted in the bin that covers it
        assert count == sum(low <= v < high for v in values)
    assert bins[0][0] <= -50 and bins[-1][1] > 1e6


def test_top_values_stay_bounded_and_say_when_counts_are_lower_bounds():
    top = TopValues(capacity=100)
    for i in range(10_000):
        top.add("common" if i % 2 else f"rare {i}")
    assert len(top.counts) <= 100
    assert top.top(1)[0][0] == "common"
    assert top.approximate
    exact = TopValues(capacity=100)
    for word in ["a", "b", "a"]:
        exact.add(word)
    assert exact.top() == [("a", 2), ("b", 1)] and not exact.approximate


@pytest.mark.parametrize(
    ("name", "chart"),
    [
        ("category", "bars"),
        ("urgent", "bars"),
        ("priority", "histogram"),
        ("summary", "top"),
        ("tags", "bars"),
        ("free", "none"),
    ],
)
def test_each_schema_field_gets_the_chart_its_type_calls_for(name, chart):
    assert field_stats(name, SCHEMA["properties"][name]).chart == chart


def test_typed_answers_are_counted_per_field_in_the_schemas_order():
    stats = ReportStats(SCHEMA).add_all(typed_row(i) for i in range(400))
    by_name = {f.name: f for f in stats.fields}
    assert by_name["category"].bars() == [("billing", 100), ("bug", 100), ("how-to", 100), ("account", 100)]
    assert dict(by_name["urgent"].bars()) == {"false": 266, "true": 134}
    assert by_name["priority"].numbers.values() == [(1, 100), (2, 100), (3, 100), (4, 100)]
    assert by_name["summary"].strings.top(1)[0][1] == 58
    assert dict(by_name["tags"].bars()) == {"a": 266, "b": 133}  # an array counts each item
    assert by_name["details.blocked"].missing == 400  # an object's fields are charted one by one
    assert by_name["free"].chart == "none"


def test_a_nested_objects_fields_are_counted_under_their_dotted_names():
    rows = [typed_row(i, {"category": "bug", "details": {"blocked": i % 4 == 0}}) for i in range(8)]
    stats = ReportStats(SCHEMA).add_all(rows)
    blocked = {f.name: f for f in stats.fields}["details.blocked"]
    assert blocked.chart == "bars" and dict(blocked.bars()) == {"false": 6, "true": 2}


def test_a_value_outside_the_enum_is_shown_after_the_schemas_values():
    stats = ReportStats(SCHEMA).add_all([typed_row(0), typed_row(1, {"category": "spam"})])
    bars = {f.name: f for f in stats.fields}["category"].bars()
    assert bars[-1] == ("spam", 1) and bars[0] == ("billing", 1)


def test_errors_are_grouped_by_type_with_counts_and_a_few_example_custom_ids():
    rows = [error_row(i) for i in range(30)] + [error_row(i, "invalid_request_error") for i in range(2)]
    stats = ReportStats().add_all(rows)
    groups = stats.error_groups
    assert [(g.kind, g.count) for g in groups] == [("overloaded_error", 30), ("invalid_request_error", 2)]
    assert groups[0].examples == [f"e-{i}" for i in range(ERROR_EXAMPLES)]
    assert groups[1].message == "invalid_request_error 0"


def test_sample_rows_are_bounded_and_list_errored_rows_first():
    rows = [typed_row(i) for i in range(5000)] + [error_row(i) for i in range(500)]
    random.Random(1).shuffle(rows)
    stats = ReportStats(SCHEMA).add_all(rows)
    samples = list(stats.samples)
    assert len(samples) == SAMPLE_ERRORED + SAMPLE_SUCCEEDED
    assert [s.status for s in samples[:SAMPLE_ERRORED]] == ["errored"] * SAMPLE_ERRORED
    assert all(s.status == "succeeded" for s in samples[SAMPLE_ERRORED:])
    assert stats.errored_sample.seen == 500 and stats.succeeded_sample.seen == 5000


def test_tokens_latency_and_attempts_are_totalled_over_all_rows():
    stats = ReportStats().add_all(typed_row(i, attempts=1 + i % 2) for i in range(10))
    assert stats.input_tokens == 100
    assert stats.output_tokens == sum(5 + i for i in range(10))
    assert stats.latency_ms.count == 10 and stats.latency_ms.min == 100.0
    assert stats.attempts == {1: 5, 2: 5}


def test_the_answer_shown_is_the_shaped_rows_typed_answer_or_its_text():
    typed = ResultRow("x", "succeeded", answer={"a": 1}, text=None)
    assert answer_fields(typed) == {"a": 1}
    plain = ResultRow("y", "succeeded", response={"content": [{"type": "text", "text": "{}"}]}, text="hello")
    assert answer_fields(plain) is None and answer_text(plain) == "hello"
