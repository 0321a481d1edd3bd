"""Shared helpers of the batch tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

TICKETS = "gs://claude-jobs-local/examples/tickets.jsonl"
TICKET_TABLE = "bq://claude-jobs-local.claude_jobs.example_tickets"
DATASET = "bq://claude-jobs-local.claude_jobs"
FAST = {"speed": 20.0}  # simulated batch durations / 20: a job takes well under a second


def run(spec, target, **options):
    from runner.batch import run_batch
    from runner.records import RunOptions

    return run_batch(spec, target, RunOptions(progress=False, **options))


def destination_rows(spec, target) -> list[dict]:
    from runner.dataio.sinks import open_sink, read_destination

    return list(read_destination(open_sink(spec.destination, spec, target)))


def jobs_of(spec, target):
    from runner.batch.identity import spec_filter
    from runner.batch.jobs import JobApi

    return JobApi.for_target(target, spec.region).list(spec_filter(spec.name))
