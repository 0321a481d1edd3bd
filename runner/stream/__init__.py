"""Stream mode: many streamRawPredict calls at once, as fast as the quota allows, exactly once.

`run_stream` is what `claude-jobs run` calls for `mode: stream`; `stream_status`
and `iter_results` back `status` and `results` for stream specs. See
docs/stream.md for the design (limiter, retries, ledger, sinks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

from runner.errors import SpecError
from runner.paths import private_folder, state_dir
from runner.records import ResultRow, RunOptions, RunSummary

__all__ = ["iter_results", "ledger_path", "ledger_project", "run_stream", "stream_status"]


def ledger_path(spec, project: str) -> Path:
    """One ledger per target project and spec: rows done on the local stack are not done on a
    real project (and the other way round)."""
    return state_dir() / "stream" / project / spec.name / "ledger.sqlite"


def ledger_project(project_flag: str | None = None, force_local: bool = False) -> str:
    """The project whose ledgers `status`/`results` read: the one `open_target` would pick,
    resolved without starting the local stack."""
    from runner.clients import LOCAL_PROJECT, configured_project

    return (None if force_local else configured_project(project_flag)) or LOCAL_PROJECT


def run_stream(spec, target, options: RunOptions) -> RunSummary:
    """Send every unfinished row of `spec`; results go to the ledger, then to the destination."""
    from runner.dataio.sinks import open_sink, refuse_foreign_data
    from runner.paths import shown
    from runner.render.requests import render_requests
    from runner.render.revision import spec_revision
    from runner.state import open_state
    from runner.state.claims import claim_destination
    from runner.state.locks import SpecLock
    from runner.stream.executor import StreamRun
    from runner.stream.limiter import Limiter
    from runner.stream.live_progress import LiveProgress, RunStats
    from runner.stream.shared import Shared, open_ledger, started

    started_at = time.monotonic()
    total, estimated_input = _count_and_check_budget(spec, render_requests(spec, target))
    # The sink first: a destination that cannot be written fails before the ledger starts.
    sink = open_sink(spec.destination, spec, target)
    path = ledger_path(spec, target.project)
    private_folder(path.parent)  # a bad CLAUDE_JOBS_HOME is named first
    store = open_state(options.state, target)
    # One run of a spec at a time, on any machine; then one spec per destination.
    lock = SpecLock(store, target.project, spec.name).acquire(options.wait_lock)
    try:
        claim_destination(
            store,
            destination_key=spec.destination_key,
            shown=sink.destination,
            spec_name=spec.name,
            project=target.project,
            restart=options.take_over,
            where=f"{shown(spec.path)}: $.destination",
        )
        if not options.restart and not started(store, path, target.project, spec.name):
            refuse_foreign_data(spec, sink)
        ledger, remote, epoch, synced = open_ledger(
            store,
            path,
            project=target.project,
            spec_name=spec.name,
            revision=spec_revision(spec, target),
            restart=options.restart,
        )
        try:
            before = ledger.counts()
            again = before["errored"] if options.retry_failed else 0
            stats = RunStats(to_send=max(0, total - before["succeeded"] - before["errored"] + again))
            limiter = Limiter(stream_limits(spec), spec.stream.concurrency)
            run = StreamRun(
                spec,
                target,
                options,
                ledger,
                sink,
                limiter,
                render_requests(spec, target),
                stats,
                shared=Shared(lock, remote, epoch, synced),
            )
            with LiveProgress(stats, spec.name, options.progress) as progress:
                asyncio.run(run.run(progress))
            after = ledger.counts()
            sink.close()
        finally:
            ledger.close()
    finally:
        lock.release()
    return _summary(
        spec,
        target,
        sink,
        stats,
        after,
        total,
        total - stats.to_send,
        time.monotonic() - started_at,
        estimated_input,
        limiter,
        store,
    )


def stream_limits(spec):
    """The spec's `stream` limits, each defaulting to the catalog's quota for the model."""
    from runner.spec.catalog import catalog
    from runner.stream.limiter import Limits

    info = catalog().get(spec.model)
    quota = info.quota if info is not None else None
    pick = lambda name: getattr(spec.stream, name) or (getattr(quota, name) if quota else None)  # noqa: E731
    return Limits(
        pick("requests_per_minute"), pick("input_tokens_per_minute"), pick("output_tokens_per_minute")
    )


def _count_and_check_budget(spec, requests) -> tuple[int, int]:
    """One pass over the rendered requests before anything is sent: count, estimate, guard."""
    from runner.render.token_estimates import estimate_input_tokens

    budget = spec.budget
    total = tokens = 0
    for request in requests:
        total += 1
        if budget.max_input_tokens is not None:
            tokens += estimate_input_tokens(request.body)
    if budget.max_requests is not None and total > budget.max_requests:
        raise SpecError(
            f"the spec renders {total} requests, over its budget of {budget.max_requests}; nothing was sent",
            where=f"{spec.path}: $.budget.max_requests",
            hint="raise the budget or narrow the source",
        )
    if budget.max_input_tokens is not None and tokens > budget.max_input_tokens:
        raise SpecError(
            f"the spec's requests hold about {tokens} input tokens, over its budget "
            f"of {budget.max_input_tokens}; nothing was sent",
            where=f"{spec.path}: $.budget.max_input_tokens",
            hint="raise the budget or narrow the source",
        )
    return total, tokens


def _summary(
    spec, target, sink, stats, counts, total, skipped, elapsed, estimated_input, limiter, store
) -> RunSummary:
    from runner.spec.catalog import catalog

    info = catalog().get(spec.model)
    rates = stats.per_minute()
    cost = (
        info.cost_usd(
            stats.input_tokens,
            stats.output_tokens,
            cache_write_tokens=stats.cache_write_tokens,
            cache_read_tokens=stats.cache_read_tokens,
        )
        if info
        else 0.0
    )
    return RunSummary(
        spec=spec.name,
        mode="stream",
        target=target.description,
        total=total,
        succeeded=counts["succeeded"],
        errored=counts["errored"],
        skipped=skipped,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        cost_usd=round(cost, 6),
        destination=sink.destination,
        state="done",
        elapsed_s=round(elapsed, 3),
        details={
            "sent": stats.done,
            "attempts": stats.attempts,
            "failures": dict(stats.failures),
            "limits": vars(limiter.limits),
            "rates": rates,
            "quota_use": {
                k: round(v / limit, 4) for k, v in rates.items() if (limit := getattr(limiter.limits, k))
            },
            "ledger": str(ledger_path(spec, target.project)),
            "state": store.uri,
        },
    )


def sync_state(spec, target, state: str | None) -> None:
    """With a Cloud Storage state location: bring this machine's copy of the spec's ledger up to
    date (for status, results and plan)."""
    if state is None:
        return
    from runner.state import open_state
    from runner.stream.shared import sync_copy

    sync_copy(open_state(state, target), ledger_path(spec, target.project), target.project, spec.name)


def stream_status(spec, target=None, *, project: str | None = None, state: str | None = None) -> dict:
    """What the spec's ledger on `target` (or on `project`) holds, no calls made; `changed`
    needs `target`. `state`: a Cloud Storage state location to read first (needs `target`)."""
    from runner.stream.ledger import Ledger

    if state is not None and target is not None:
        sync_state(spec, target, state)
    path = ledger_path(spec, project or target.project)
    ledger = Ledger.read_only(path)
    if ledger is None:
        return {
            "spec": spec.name,
            "mode": "stream",
            "state": "never run",
            "ledger": str(path),
            "succeeded": 0,
            "errored": 0,
            "destination": spec.destination,
        }
    try:
        meta, counts = ledger.meta(), ledger.counts()
    finally:
        ledger.close()
    status = {
        "spec": spec.name,
        "mode": "stream",
        "state": "has results",
        "ledger": str(path),
        "revision": meta.get("revision"),
        "started": meta.get("created"),
        "succeeded": counts["succeeded"],
        "errored": counts["errored"],
        "input_tokens": counts["input_tokens"],
        "output_tokens": counts["output_tokens"],
        "destination": spec.destination,
    }
    if target is not None and meta.get("revision"):
        from runner.render.revision import spec_revision

        status["changed"] = spec_revision(spec, target) != meta["revision"]
    return status


def iter_results(spec, project: str) -> Iterator[ResultRow]:
    """Every result in the spec's ledger on `project`, one per custom_id, in the order they
    finished."""
    from runner.stream.ledger import Ledger

    ledger = Ledger.read_only(ledger_path(spec, project))
    if ledger is None:
        return
    try:
        yield from ledger.rows()
    finally:
        ledger.close()
