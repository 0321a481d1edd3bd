"""The ListBatchPredictionJobs `filter` language, on job JSON as the server stores it."""

from __future__ import annotations

import pytest

from runner.local.batch_filter import FilterError, parse

JOBS = {
    "a": {
        "displayName": "nightly-a",
        "state": "JOB_STATE_SUCCEEDED",
        "model": "publishers/anthropic/models/claude-haiku-4-5@20251001",
        "createTime": "2026-01-02T03:04:05.000001Z",
        "labels": {"team": "support", "part": "1"},
    },
    "b": {
        "displayName": "nightly-b",
        "state": "JOB_STATE_FAILED",
        "model": "publishers/anthropic/models/claude-sonnet-4-5@20250929",
        "createTime": "2026-01-03T00:00:00.000000Z",
        "labels": {"team": "sales"},
    },
    "c": {
        "displayName": "adhoc",
        "state": "JOB_STATE_RUNNING",
        "model": "publishers/anthropic/models/claude-haiku-4-5@20251001",
        "createTime": "2026-01-04T00:00:00.000000Z",
    },
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "abc"),
        ('labels.team="support"', "a"),
        ("labels.team=sales", "b"),
        ("labels.part:*", "a"),
        ('labels.team!="support"', "bc"),
        ('display_name="adhoc"', "c"),
        ('display_name:"nightly-*"', "ab"),
        ("state=JOB_STATE_FAILED", "b"),
        ('state!="JOB_STATE_FAILED"', "ac"),
        ('state="JOB_STATE_SUCCEEDED" AND display_name:"nightly-*"', "a"),
        ('state="JOB_STATE_FAILED" OR display_name="adhoc"', "bc"),
        ("labels.team:* AND (state=JOB_STATE_FAILED OR state=JOB_STATE_SUCCEEDED)", "ab"),
        ('NOT display_name="adhoc"', "ab"),
        ('-display_name="adhoc"', "ab"),
        ('create_time>"2026-01-02T12:00:00Z"', "bc"),
        ('create_time<="2026-01-03T00:00:00Z"', "ab"),
        ("model_display_name=claude-haiku-4-5@20251001", "ac"),
    ],
)
def test_filter_selects_the_jobs_vertex_would(text, expected):
    predicate = parse(text)
    assert "".join(name for name, job in JOBS.items() if predicate(job)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "owner=me",  # unsupported field
        'state>"JOB_STATE_FAILED"',  # unsupported operator for the field
        'display_name="x" AND',  # dangling operator
        "(state=JOB_STATE_FAILED",  # missing parenthesis
        'create_time>"yesterday"',  # not RFC 3339
    ],
)
def test_a_filter_vertex_would_refuse_raises(text):
    with pytest.raises(FilterError):
        parse(text)
