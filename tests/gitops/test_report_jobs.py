"""How the report lists a batch job: its state, its rows, and a Vertex console link on a real project."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.batch.jobs import BatchJob
from runner.clients import Target
from runner.gitops.report import job_line

JOB = BatchJob(
    name="projects/acme-prod/locations/europe-west1/batchPredictionJobs/4242",
    display_name="claude-jobs-triage-1a2b",
    model="publishers/anthropic/models/claude-haiku-4-5",
    state="PARTIALLY_SUCCEEDED",
    successful=1200,
    failed=3,
    create_time=datetime(2026, 12, 2, 10, 30, tzinfo=UTC),
)


def test_a_job_on_a_real_project_links_to_its_page_in_the_vertex_console():
    line = job_line(JOB, Target(project="acme-prod", region="us-east5"))
    assert line.link == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west1/batch-predictions/4242"
        "?project=acme-prod"
    )  # the job's own region and project, not the target's default region
    assert (line.name, line.state) == ("claude-jobs-triage-1a2b", "PARTIALLY_SUCCEEDED")
    assert line.rows == "1,200 succeeded, 3 failed" and line.created == "2026-12-02 10:30 UTC"


def test_a_job_on_the_local_stack_has_no_console_link():
    local = Target(project="claude-jobs-local", local=True, vertex_url="http://127.0.0.1:1")
    assert job_line(JOB, local).link is None
