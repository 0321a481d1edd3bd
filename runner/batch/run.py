"""`run_batch`: preflight, stage, submit (idempotent, quota-aware), wait, collect, report.

One direction: the spec's requests are staged once per revision, jobs are
found by their labels or submitted, the waiter watches them, and the collector
joins their outputs to the inputs and writes the destination.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from runner.batch import preflight
from runner.batch.collect import JoinStats
from runner.batch.identity import JobKey, revision_filter, spec_filter
from runner.batch.jobs import JobApi
from runner.batch.poll import Waiter, WaitResult
from runner.batch.readback import JobFiles
from runner.batch.record import SubmissionRecord
from runner.batch.report import Report
from runner.batch.rounds import Rounds, merged_results
from runner.batch.staging import Layout, Staged, StagedPart, stage
from runner.batch.submit import Submitter, job_body, parts_of
from runner.batch.submit_queue import SubmitQueue, concurrent_limit
from runner.batch.wait_display import Progress
from runner.errors import Interrupted, SpecErrors
from runner.records import RunOptions, RunSummary


class BatchRun:
    """One run of one batch spec on one target; `run()` returns its RunSummary."""

    def __init__(self, spec, target, options: RunOptions):
        from runner.render.revision import revision_label, spec_revision

        self.spec = spec
        self.target = target
        self.options = options
        self.region = target.region or spec.region
        self.started = time.monotonic()
        preflight.check(spec, target, self.region)
        self.rev = revision_label(spec_revision(spec, target))
        batch = spec.batch
        self.layout = Layout(
            input=batch.input, output=batch.output or batch.input, spec_name=spec.name, rev=self.rev
        )
        self.api = JobApi.for_target(target, self.region)
        self.files = JobFiles(target)
        from runner.state import open_state
        from runner.state.claims import SubmissionClaims

        self.store = open_state(options.state, target)
        self.submitter = Submitter(
            self.api,
            SubmissionRecord(spec.name, self.rev),
            spec.name,
            self.rev,
            claims=SubmissionClaims(self.store, target.project, spec.name, self.rev),
        )
        self.bodies: dict[JobKey, dict] = {}
        self.queue = SubmitQueue(
            self.api,
            submit=lambda key: self.submitter.submit(self.bodies[key], key),
            limit=concurrent_limit(),
        )
        self.progress = Progress(options.progress)
        self.report = Report(spec, self.rev)

    # -- the run ----------------------------------------------------------------

    def run(self) -> RunSummary:
        self._claim_destination()
        rounds = Rounds()
        for job in self.api.list(revision_filter(self.spec.name, self.rev)):
            rounds.add(job)
        if not rounds.jobs and not self.options.restart:
            self._refuse_foreign_destination()
        self._plan_first_round(rounds)
        if self.queue.waiting or rounds.jobs:
            self.progress.say(self.report.plan_line(rounds.all(), self.queue), style="bold")
        with self.progress:
            try:
                result = self._wait(
                    rounds, until_submitted=not self.options.wait and not self.options.retry_failed
                )
                if self.options.retry_failed and self._clean(result):
                    if self._plan_retry(rounds):
                        result = self._wait(rounds, until_submitted=False)
            except KeyboardInterrupt:
                raise self._interrupted(rounds) from None
        return self._finish(rounds, result)

    def _wait(self, rounds: Rounds, until_submitted: bool) -> WaitResult:
        batch = self.spec.batch
        waiter = Waiter(
            self.api,
            poll_interval=batch.poll_interval,
            pending_timeout=batch.pending_timeout,
            wait_timeout=batch.wait_timeout,
            outage_timeout=batch.outage_timeout,
            on_update=lambda result, queue: self._seen(rounds, result, queue),
        )
        result = waiter.wait(rounds.all(), self.queue, until_submitted=until_submitted)
        for job in result.jobs.values():
            rounds.add(job)
        return result

    def _seen(self, rounds: Rounds, result: WaitResult, queue) -> None:
        for job in result.jobs.values():
            rounds.add(job)  # so an interrupt knows every job submitted so far
        self.progress.update(result, queue)

    @staticmethod
    def _clean(result: WaitResult) -> bool:
        return result.finished and not result.stuck and not result.timed_out

    def _claim_destination(self) -> None:
        """One spec per destination (runner/state/claims.py); `--restart` takes it over."""
        from runner.paths import shown
        from runner.state.claims import claim_destination

        claim_destination(
            self.store,
            destination_key=self.spec.destination_key,
            shown=self.spec.destination,
            spec_name=self.spec.name,
            project=self.target.project,
            restart=self.options.take_over,
            where=f"{shown(self.spec.path)}: $.destination",
        )

    def _refuse_foreign_destination(self) -> None:
        """Collection replaces the destination: on the spec's first job, it must not hold others' data."""
        if next(iter(self.api.list(spec_filter(self.spec.name))), None) is not None:
            return  # an earlier revision of this spec wrote it
        from runner.dataio.sinks import open_sink, refuse_foreign_data

        sink = open_sink(self.spec.destination, self.spec, self.target)
        try:
            refuse_foreign_data(self.spec, sink)
        finally:
            sink.close()

    # -- planning submissions -----------------------------------------------------

    def _plan_first_round(self, rounds: Rounds) -> None:
        """Stage and queue the parts of round 0 that have no job yet."""
        have = rounds.round(0)
        parts = parts_of(list(have.values()))
        if parts is not None and len(have) >= parts:
            return
        staged = self._stage_first_round(skip=set(have))
        for part in staged.parts:
            if part.key.part not in have:
                self._enqueue(part)
        taken = preflight.output_tables_taken(
            self.target, [self.layout.output_uri(key) for key in self.bodies]
        )
        if taken:
            raise SpecErrors(taken)

    def _stage_first_round(self, skip: set[int]) -> Staged:
        from runner.render.requests import render_requests
        from runner.render.token_estimates import estimate_input_tokens

        spec, budget = self.spec, self.spec.budget
        common = dict(
            max_per_job=spec.batch.max_requests_per_job,
            max_requests=budget.max_requests,
            token_estimate=estimate_input_tokens if budget.max_input_tokens else None,
            max_input_tokens=budget.max_input_tokens,
            region=self.region,
        )
        if spec.output.keep and self.layout.input.startswith("bq://"):
            from runner.dataio.results import kept_types

            common["kept_types"] = kept_types(spec, self.target)
        prepared = spec.prepared
        if (
            prepared is not None
            and prepared.kind in ("gcs", "bigquery")
            and (prepared.kind == "bigquery" or prepared.format == "jsonl")
        ):
            # Already in Vertex's shape: check it (ids, budget) in one read, then use it in place.
            scan = stage(
                render_requests(spec, self.target),
                self.target,
                self.layout,
                parts_needed=lambda part: False,
                **common,
            )
            if len(scan.parts) <= 1:
                scan.parts = [StagedPart(JobKey(0, 0, 1), (prepared.uri,), scan.total)] if scan.total else []
                return scan
        self.progress.say(f"Staging requests under {self.spec.batch.input} ...")
        return stage(
            render_requests(spec, self.target),
            self.target,
            self.layout,
            parts_needed=lambda part: part not in skip,
            **common,
        )

    def _plan_retry(self, rounds: Rounds) -> bool:
        """Queue a retry round with only the errored and missing rows; False if none failed."""
        failed: set[str] = set()
        for row in self._merged(rounds, JoinStats()):
            if not row.succeeded:
                failed.add(row.custom_id)
        if not failed:
            self.progress.say("No errored or missing rows: nothing to retry.", style="green")
            return False
        retry = rounds.latest + 1
        first = rounds.round(0)

        def requests():
            for part in sorted(first):
                yield from self.files.input_requests(first[part], failed)

        self.progress.say(f"Retrying {len(failed)} errored or missing rows (round {retry}) ...", style="bold")
        staged = stage(
            requests(),
            self.target,
            self.layout,
            retry=retry,
            max_per_job=self.spec.batch.max_requests_per_job,
            region=self.region,
        )
        for part in staged.parts:
            self._enqueue(part)
        taken = preflight.output_tables_taken(
            self.target, [self.layout.output_uri(p.key) for p in staged.parts]
        )
        if taken:
            raise SpecErrors(taken)
        return True

    def _enqueue(self, part: StagedPart) -> None:
        self.bodies[part.key] = job_body(self.spec, self.layout, part, self.rev)
        self.queue.add(part.key)

    # -- results ------------------------------------------------------------------

    def _merged(self, rounds: Rounds, stats: JoinStats) -> Iterator:
        from runner.dataio.results import ResultShape

        return merged_results(
            self.files, rounds, stats, ResultShape.of(self.spec), join_kept=not self._kept_in_sql()
        )

    def _kept_in_sql(self) -> bool:
        """BigQuery in and out: BigQuery itself joins the kept columns (one MERGE), not the client."""
        return bool(
            self.spec.output.keep
            and self.layout.input.startswith("bq://")
            and self.spec.destination.startswith("bq://")
            and self.spec.prepared is None
        )

    def _finish(self, rounds: Rounds, result: WaitResult) -> RunSummary:
        summary = RunSummary(
            spec=self.spec.name,
            mode="batch",
            target=self.target.description,
            jobs=[job.name for job in rounds.all()],
        )
        summary.details.update(
            revision=self.rev, created=list(self.submitter.created), throttled=self.queue.throttled
        )
        if result.stuck or result.timed_out:
            summary.state = "stuck" if result.stuck else "timeout"
            self.report.unfinished(summary, result)
        elif not result.finished or self.queue.waiting:
            summary.state = "submitted" if self.submitter.created else "running"
            self.report.detached(summary, rounds.all())
        else:
            from runner.dataio.sinks import BigQuerySink, open_sink

            stats = JoinStats()
            sink = open_sink(self.spec.destination, self.spec, self.target)
            try:
                sink.write_all(self.report.tally(summary, self._merged(rounds, stats)))
                if self._kept_in_sql() and isinstance(sink, BigQuerySink):
                    first = rounds.round(0)
                    sink.merge_kept([uri for part in sorted(first) for uri in first[part].input_uris])
            finally:
                sink.close()
            summary.destination = self.spec.destination  # only once results are there
            self.report.finished(summary, rounds.all(), stats)
        summary.elapsed_s = round(time.monotonic() - self.started, 3)
        return summary

    def _interrupted(self, rounds: Rounds) -> Interrupted:
        running = [job for job in rounds.all() if not job.terminal]
        spec_path = str(self.spec.path)
        if self.options.cancel_on_interrupt:
            for job in running:
                self.api.cancel(job.name)
            return Interrupted(
                f"interrupted; cancelled {len(running)} batch job(s) (rows already written stay)",
                hint=f"`claude-jobs run {spec_path}` submits them again",
            )
        return Interrupted(
            f"interrupted; {len(running)} batch job(s) left running: " + ", ".join(job.id for job in running),
            hint=f"re-attach with `claude-jobs run {spec_path}` (nothing is "
            f"submitted twice) or watch with `claude-jobs status {spec_path}`",
        )


def run_batch(spec, target, options: RunOptions) -> RunSummary:
    """Run a `mode: batch` spec: attach to its jobs or submit them, wait, collect the results."""
    return BatchRun(spec, target, options).run()
