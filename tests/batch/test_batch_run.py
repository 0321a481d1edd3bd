"""`run` for batch specs on the local stack: every source/sink pairing, idempotency, splitting."""

from __future__ import annotations

import pytest
from batch_harness import DATASET, TICKET_TABLE, destination_rows, jobs_of, run

pytestmark = pytest.mark.usefixtures("server")


def test_gcs_to_gcs_runs_to_succeeded_with_one_result_per_source_row(local_stack, make_spec, source_ids):
    spec = make_spec(output="gs://claude-jobs-local/batch-tests-out")
    summary = run(spec, local_stack)
    assert (summary.state, summary.ok) == ("done", True)
    assert summary.succeeded == summary.total == len(source_ids)
    rows = destination_rows(spec, local_stack)
    assert sorted(r["custom_id"] for r in rows) == source_ids
    assert all(r["status"] == "succeeded" and r["response"]["content"] for r in rows)
    assert summary.input_tokens > 0 and summary.cost_usd > 0


def test_bigquery_to_bigquery(local_stack, make_spec, source_ids):
    table = f"{DATASET}.results_{make_spec().name.replace('-', '_')}"
    spec = make_spec(source=TICKET_TABLE, input=DATASET, destination=table)
    summary = run(spec, local_stack)
    assert summary.state == "done" and summary.succeeded == len(source_ids)
    assert sorted(r["custom_id"] for r in destination_rows(spec, local_stack)) == source_ids
    (job,) = jobs_of(spec, local_stack)
    assert job.input_uris[0].startswith("bq://") and job.output_table.startswith("bq://")


def test_gcs_to_bigquery(local_stack, make_spec, source_ids):
    spec = make_spec(output=DATASET)
    summary = run(spec, local_stack)
    assert summary.state == "done" and summary.succeeded == len(source_ids)
    (job,) = jobs_of(spec, local_stack)
    assert job.input_uris[0].startswith("gs://") and job.output_table.startswith("bq://")


def test_bigquery_to_gcs(local_stack, make_spec, source_ids, tmp_path):
    spec = make_spec(source=TICKET_TABLE, input=DATASET, output="gs://claude-jobs-local/batch-tests-out")
    summary = run(spec, local_stack)
    assert summary.state == "done" and summary.succeeded == len(source_ids)
    (job,) = jobs_of(spec, local_stack)
    assert job.output_dir.startswith("gs://claude-jobs-local/batch-tests-out/")


def test_running_an_unchanged_spec_again_submits_nothing(local_stack, make_spec, tmp_path, monkeypatch):
    spec = make_spec()
    first = run(spec, local_stack)
    assert len(first.details["created"]) == 1
    # A fresh machine: no local record, so the job must be found by its labels alone.
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "elsewhere"))
    again = run(spec, local_stack)
    assert again.details["created"] == [] and again.jobs == first.jobs
    assert len(jobs_of(spec, local_stack)) == 1
    assert (again.succeeded, again.state) == (first.succeeded, "done")


def test_no_wait_returns_after_submitting_and_a_rerun_attaches(local_stack, make_spec):
    spec = make_spec()
    submitted = run(spec, local_stack, wait=False)
    assert submitted.state in ("submitted", "running") and len(submitted.jobs) == 1
    finished = run(spec, local_stack)
    assert finished.details["created"] == [] and finished.jobs == submitted.jobs
    assert finished.state == "done"


def test_a_large_input_is_split_into_labelled_jobs_and_joined_back(local_stack, make_spec, source_ids):
    spec = make_spec(batch={"max_requests_per_job": 8})
    summary = run(spec, local_stack)
    jobs = jobs_of(spec, local_stack)
    assert sorted(j.labels["claude-jobs-part"] for j in jobs) == ["0", "1", "2"]
    assert {j.labels["claude-jobs-parts"] for j in jobs} == {"3"}
    assert all(j.display_name.endswith(f"-part{j.labels['claude-jobs-part']}") for j in jobs)
    assert summary.succeeded == len(source_ids)
    assert sorted(r["custom_id"] for r in destination_rows(spec, local_stack)) == source_ids


def test_jobs_carry_the_full_model_name_and_the_spec_labels(local_stack, make_spec):
    spec = make_spec(labels={"team": "support"})
    run(spec, local_stack, wait=False)
    (job,) = jobs_of(spec, local_stack)
    assert job.model == "publishers/anthropic/models/claude-haiku-4-5@20251001"
    assert job.labels["team"] == "support" and job.labels["claude-jobs-spec"] == spec.name
    assert job.display_name == f"claude-jobs-{spec.name}-{job.labels['claude-jobs-rev']}"
    assert "/locations/us-east5/" in job.name


def test_a_prepared_jsonl_object_is_used_in_place(local_stack, make_spec, tmp_path):
    import orjson

    from runner.spec import load_spec

    name = make_spec().name + "-prep"
    uri = f"gs://claude-jobs-local/batch-tests/prepared/{name}.jsonl"
    rows = [
        {
            "custom_id": f"p-{i}",
            "request": {
                "anthropic_version": "vertex-2023-10-16",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"Say {i}."}],
            },
        }
        for i in range(6)
    ]
    local_stack.storage().bucket("claude-jobs-local").blob(uri.split("/", 3)[3]).upload_from_string(
        b"\n".join(orjson.dumps(r) for r in rows) + b"\n"
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nmodel: claude-haiku-4-5@20251001\nmode: batch\n"
        f"prepared: {uri}\ndestination: gs://claude-jobs-local/batch-results/{name}\n"
        "batch:\n  input: gs://claude-jobs-local/batch-tests\n  poll_interval: 1\n"
    )
    spec = load_spec(str(path))
    summary = run(spec, local_stack)
    (job,) = jobs_of(spec, local_stack)
    assert job.input_uris == (uri,)
    assert summary.state == "done" and summary.succeeded == 6
    assert sorted(r["custom_id"] for r in destination_rows(spec, local_stack)) == [f"p-{i}" for i in range(6)]
