"""Job identity (labels, display names, request bodies) and the polling schedule."""

from __future__ import annotations

import pytest

from runner.batch.identity import JobKey, revision_filter, user_labels
from runner.batch.poll import first_interval, next_interval
from runner.batch.staging import Layout, StagedPart
from runner.batch.submit import job_body, model_name


@pytest.mark.parametrize("key", [JobKey(0, 0, 1), JobKey(0, 2, 3), JobKey(4, 1, 2)])
def test_a_job_key_survives_the_round_trip_through_labels(key):
    assert JobKey.from_labels(key.labels("spec-a", "0123456789abcdef")) == key


def test_a_job_without_our_labels_has_no_key():
    assert JobKey.from_labels({"team": "x"}) is None


def test_display_names_are_deterministic_and_name_part_and_round():
    assert JobKey(0, 0, 1).display_name("s", "r") == "claude-jobs-s-r"
    assert JobKey(2, 1, 3).display_name("s", "r") == "claude-jobs-s-r-part1-retry2"


def test_the_revision_filter_selects_spec_and_revision_labels():
    assert revision_filter("s", "r") == 'labels.claude-jobs-spec="s" AND labels.claude-jobs-rev="r"'


def test_a_spec_cannot_override_our_labels():
    assert user_labels({"team": "a", "claude-jobs-rev": "x"}) == {"team": "a"}


def test_the_model_is_always_the_full_publisher_name():
    assert model_name("claude-haiku-4-5@20251001") == "publishers/anthropic/models/claude-haiku-4-5@20251001"


class _Spec:
    name = "s"
    model = "claude-haiku-4-5@20251001"
    labels = {"team": "support"}


def test_a_job_body_for_gcs_lists_every_segment_and_the_output_prefix():
    layout = Layout("gs://b/in", "gs://b/out", "s", "r")
    key = JobKey(0, 1, 2)
    part = StagedPart(
        key, ("gs://b/in/s/r/part00001/seg-00000.jsonl", "gs://b/in/s/r/part00001/seg-00001.jsonl"), 7
    )
    body = job_body(_Spec, layout, part, "r")
    assert body["input_config"] == {
        "instances_format": "jsonl",
        "gcs_source": {"uris": list(part.input_uris)},
    }
    assert body["output_config"]["gcs_destination"]["output_uri_prefix"] == "gs://b/out/s/r/out/part00001"
    assert body["labels"] == {
        "team": "support",
        "claude-jobs-spec": "s",
        "claude-jobs-rev": "r",
        "claude-jobs-part": "1",
        "claude-jobs-parts": "2",
        "claude-jobs-rows": "7",
    }


def test_a_job_body_for_bigquery_names_input_and_output_tables():
    layout = Layout("bq://p.d", "bq://p.o", "s", "r")
    part = StagedPart(JobKey(0, 0, 1), ("bq://p.d.cj_s_r_part00000",), 3)
    body = job_body(_Spec, layout, part, "r")
    assert body["input_config"]["bigquery_source"] == {"input_uri": "bq://p.d.cj_s_r_part00000"}
    assert body["output_config"]["bigquery_destination"] == {"output_uri": "bq://p.o.cj_s_r_part00000_out"}


def test_polls_start_fast_and_back_off_to_four_times_the_interval():
    waits, wait = [], first_interval(30)
    for _ in range(20):
        waits.append(wait)
        wait = next_interval(wait, 30)
    assert waits[0] == 1.0 and waits == sorted(waits) and waits[-1] == 120


def test_backoff_stops_at_five_minutes_unless_the_interval_itself_is_longer():
    assert next_interval(200, 100) == 300
    assert next_interval(3000, 3600) == 3600
