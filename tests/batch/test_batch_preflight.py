"""Problems are found before any job is submitted, each with the fix named."""

from __future__ import annotations

import dataclasses

import pytest
from batch_harness import DATASET, jobs_of, run

from runner.errors import SpecError

pytestmark = pytest.mark.usefixtures("server")


def refused(spec, target) -> str:
    with pytest.raises(SpecError) as caught:
        run(spec, target)
    assert jobs_of(spec, target) == [], "a refused spec must submit nothing"
    return str(caught.value)


def test_the_global_location_is_refused_with_a_regional_fix(local_stack, make_spec):
    spec = dataclasses.replace(make_spec(), region="global")
    from runner.batch.preflight import static_problems

    (problem,) = [p for p in static_problems(spec, "global") if p.where == "region"][:1]
    assert "regional location" in problem.message and "us-east5" in problem.hint


def test_a_region_where_the_model_has_no_batch_is_refused(local_stack, make_spec):
    from runner.batch.preflight import static_problems

    problems = static_problems(make_spec(), "asia-northeast1")
    assert any("does not serve batch prediction" in p.message and "us-east5" in p.hint for p in problems)


def test_a_dataset_outside_the_job_region_is_refused(local_stack, make_spec):
    from google.cloud import bigquery

    client = local_stack.bigquery()
    dataset = bigquery.Dataset("claude-jobs-local.batch_tests_eu")
    dataset.location = "EU"
    client.create_dataset(dataset, exists_ok=True)
    message = refused(make_spec(output="bq://claude-jobs-local.batch_tests_eu"), local_stack)
    assert "is in EU" in message and "--location=us-east5" in message


def test_a_missing_bucket_and_a_missing_source_are_both_reported(local_stack, make_spec):
    message = refused(
        make_spec(input="gs://no-such-bucket-for-batch", source="gs://claude-jobs-local/no/such.jsonl"),
        local_stack,
    )
    assert "gs://no-such-bucket-for-batch does not exist" in message
    assert "no such Cloud Storage object: gs://claude-jobs-local/no/such.jsonl" in message


def test_a_source_in_a_missing_bucket_is_refused_naming_the_bucket(local_stack, make_spec):
    message = refused(make_spec(source="gs://no-such-bucket-for-sources/in.jsonl"), local_stack)
    assert (
        "no such Cloud Storage bucket: gs://no-such-bucket-for-sources (create it, or fix the bucket name)"
    ) in message
    assert "no such Cloud Storage object" not in message


def test_an_existing_output_table_is_refused(local_stack, make_spec):
    from google.cloud import bigquery

    from runner.render.revision import revision_label, spec_revision

    spec = make_spec(output=DATASET)
    rev = revision_label(spec_revision(spec, local_stack))
    table = f"claude-jobs-local.claude_jobs.cj_{spec.name}_{rev}_part00000_out".replace("-", "_")
    table = table.replace("claude_jobs_local", "claude-jobs-local", 1)
    local_stack.bigquery().create_table(bigquery.Table(table, schema=[bigquery.SchemaField("x", "STRING")]))
    assert "already exists" in refused(spec, local_stack)


def test_duplicate_custom_ids_stop_the_run_before_submission(local_stack, make_spec):
    assert "not unique" in refused(make_spec(custom_id="p-{{ product }}"), local_stack)


def test_the_request_budget_stops_the_run_before_submission(local_stack, make_spec):
    spec = make_spec(extra="budget:\n  max_requests: 5\n")
    assert "budget.max_requests" in refused(spec, local_stack)
