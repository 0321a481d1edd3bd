"""What `run` would do for each spec: requests, tokens, worst-case cost, and its state.

`load_specs(paths)` then `build_plan(specs, errors, target, options)` plan a
set of specs; `apply` calls `plan_spec` (state only) to decide what to run. Counting stays bounded: every
request is rendered once and estimated offline (cheap), but at most
`sample_size` of them go to the count-tokens endpoint; above that the total is
extrapolated from the sample and the plan says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from runner.clients import Target
from runner.errors import RemoteError, SpecError
from runner.paths import shown
from runner.spec.model import JobSpec
from runner.spec.stack_outputs import StackOutputs

State = Literal["new", "changed", "incomplete", "up-to-date", "unknown"]
RUN_STATES = ("new", "changed", "incomplete")  # what apply runs
SAMPLE_SIZE = 200  # requests counted exactly before extrapolating
COUNT_CONCURRENCY = 4  # count-tokens calls in flight
DEFAULT_MAX_TOKENS = 1024  # docs/spec-format.md: request.max_tokens default


@dataclass(frozen=True)
class PlanOptions:
    offline: bool = False  # estimate tokens locally; no network, no state
    count_tokens: bool = True  # False: state only (apply does not need the numbers)
    sample_size: int = SAMPLE_SIZE
    region: str | None = None  # --region: overrides every spec's region
    state: str | None = None  # --state / CLAUDE_JOBS_STATE: where stream ledgers live


@dataclass
class SpecPlan:
    """One spec's line of the plan."""

    name: str
    path: str
    mode: str
    model: str
    region: str
    destination: str
    state: State = "unknown"
    revision: str | None = None  # label of the revision this spec would run
    previous_revision: str | None = None  # label of what ran before, when it differs
    detail: str = ""  # why this state ("finished: 123 SUCCEEDED", "ledger: …")
    requests: int | None = None  # None when unknown (remote input while offline)
    input_tokens: int | None = None
    token_method: str = "none"  # counted | sampled | estimated | none
    sampled: int = 0  # requests sent to count-tokens
    output_tokens_max: int | None = None
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def will_run(self) -> bool:
        return self.state in RUN_STATES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"will_run": self.will_run}


@dataclass
class Plan:
    specs: list[SpecPlan]
    errors: list[str] = field(default_factory=list)  # invalid specs, one line each
    target: str = ""
    offline: bool = False

    @property
    def changes(self) -> list[SpecPlan]:
        return [s for s in self.specs if s.will_run]

    @property
    def pending(self) -> list[SpecPlan]:
        """Specs that would run, or might (state not read offline)."""
        return [s for s in self.specs if s.state != "up-to-date"]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def total_cost_usd(self) -> float:
        """Max cost of the pending specs whose cost is known (see `cost_unknown`)."""
        return sum(s.cost_usd for s in self.pending if s.cost_usd is not None)

    @property
    def cost_unknown(self) -> int:
        return sum(1 for s in self.pending if s.cost_usd is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "offline": self.offline,
            "valid": not self.errors,
            "has_changes": self.has_changes,
            "summary": {state: sum(1 for s in self.specs if s.state == state) for state in get_args(State)},
            "total_cost_usd": self.total_cost_usd,
            "cost_unknown": self.cost_unknown,
            "errors": self.errors,
            "specs": [s.to_dict() for s in self.specs],
        }


# -- arithmetic ----------------------------------------------------------------


def extrapolate(
    estimated_total: int, sample_estimated: int, sample_counted: int, sample_len: int, requests: int
) -> int:
    """Scale counted tokens from a sample to all requests by the counted/estimated ratio.

    The ratio estimator uses every request's offline estimate, so a skewed
    sample of short or long rows does not skew the total; it falls back to the
    sample mean when the estimates are all zero.
    """
    if sample_estimated > 0:
        return round(estimated_total * sample_counted / sample_estimated)
    return round(sample_counted / max(sample_len, 1) * requests)


# -- building a plan -------------------------------------------------------------


def load_specs(
    paths: Iterable[str], stack_outputs: StackOutputs | None = None
) -> tuple[list[JobSpec], list[str]]:
    """Valid specs under `paths` (files or folders) and every error line, as validate words them."""
    from runner.spec import validate_paths

    specs, errors = [], []
    for report in validate_paths(list(paths), stack_outputs):
        if report.ok and report.spec is not None:
            specs.append(report.spec)
        else:
            errors += [f.format(report.path) for f in report.errors]
    return specs, errors


async def plan_specs(
    specs: list[JobSpec], target: Target | None, options: PlanOptions, errors: list[str]
) -> list[SpecPlan]:
    """Plan every spec, one after the other; a spec whose rows fail to render goes to `errors`."""
    lines = []
    for spec in specs:
        try:
            lines.append(await plan_spec(spec, target, options))
        except SpecError as exc:
            where, text = shown(spec.path), str(exc)
            errors.append(text if text.startswith(where) else f"{where}: {text}")
    return lines


async def plan_spec(spec: JobSpec, target: Target | None, options: PlanOptions) -> SpecPlan:
    from runner.spec.catalog import catalog

    info = catalog().get(spec.model)
    line = SpecPlan(
        name=spec.name,
        path=shown(spec.path),
        mode=spec.mode,
        model=spec.model,
        region=options.region or spec.region,
        destination=spec.destination,
    )
    regional = dataclasses.replace(target, region=line.region) if target else None
    if options.count_tokens:
        if regional is None and _reads_remote_input(spec):
            line.notes.append("reads a remote input: requests and tokens unknown offline")
        else:
            await count_spec(spec, regional, options, line)
        if line.input_tokens is not None and line.output_tokens_max is not None and info is not None:
            # Catalog prices; batch rows pay the catalog's `batch_discount` fraction.
            line.cost_usd = info.cost_usd(
                line.input_tokens, line.output_tokens_max, batch=spec.mode == "batch"
            )
    if regional is not None:
        read_state(spec, regional, line, options.state)
    else:
        line.detail = "offline: state not read"
    return line


def read_state(spec: JobSpec, target: Target, line: SpecPlan, state: str | None = None) -> None:
    """Fill state, revision and detail from the batch job labels or the stream ledger."""
    if spec.mode == "batch":
        _batch_state(spec, target, line)
    else:
        _stream_state(spec, target, line, state)


def _batch_state(spec: JobSpec, target: Target, line: SpecPlan) -> None:
    from runner.batch import batch_status

    status = batch_status(spec, target)
    line.revision = status.revision
    current = status.current
    if current:
        line.state = "up-to-date"
        line.detail = f"{status.state}: " + ", ".join(f"{j.id} {j.state}" for j in current)
        if status.state == "failed":
            line.notes.append(
                "its batch job did not succeed at this revision: "
                f"`claude-jobs run {line.path} --retry-failed` re-sends the "
                "failed rows"
            )
    elif status.jobs:
        line.state, line.previous_revision = "changed", _job_revision(status.jobs[0])
        line.detail = f"{len(status.jobs)} job(s) at other revisions"
    else:
        line.state, line.detail = "new", "no batch job with this spec's labels"


def _job_revision(job) -> str | None:
    from runner.batch.identity import REV_LABEL

    return job.labels.get(REV_LABEL)


def _stream_state(spec: JobSpec, target: Target, line: SpecPlan, state: str | None = None) -> None:
    from runner.render.revision import revision_label, spec_revision
    from runner.stream import stream_status

    line.revision = label = revision_label(spec_revision(spec, target))
    status = stream_status(spec, target, state=state) or {}
    ran = status.get("revision")
    ran = revision_label(ran) if ran else None
    finished = status.get("succeeded", 0) + status.get("errored", 0)
    if not ran:
        line.state, line.detail = "new", "no ledger"
    elif ran == label:
        if line.requests is None:
            from runner.render.requests import render_requests

            line.requests = sum(1 for _ in render_requests(spec, target))
        # An interrupted run: the ledger guarantees no row is sent twice, so apply resumes it.
        line.state = "up-to-date" if finished >= line.requests else "incomplete"
        line.detail = (
            f"ledger: {finished} of {line.requests} rows finished ({status.get('errored', 0)} errored)"
        )
        if status.get("errored"):
            line.notes.append(
                f"{status['errored']} row(s) errored at this revision: "
                f"`claude-jobs run {line.path} --retry-failed` re-sends them"
            )
    else:
        line.state, line.previous_revision = "changed", ran
        line.detail = f"ledger at revision {ran}"


async def count_spec(spec: JobSpec, target: Target | None, options: PlanOptions, line: SpecPlan) -> None:
    """Requests, input tokens and worst-case output tokens; count-tokens on a bounded sample."""
    from runner.render.requests import render_requests
    from runner.render.token_estimates import estimate_input_tokens

    rng = random.Random(spec.name)  # the same sample on every run: stable plan output
    sample: list[tuple[dict[str, Any], int]] = []
    requests = estimated = output_max = 0
    for request in render_requests(spec, target):
        requests += 1
        guess = estimate_input_tokens(request.body)
        estimated += guess
        output_max += int(request.body.get("max_tokens", DEFAULT_MAX_TOKENS))
        # Reservoir sampling keeps memory bounded by sample_size whatever the input size.
        if len(sample) < options.sample_size:
            sample.append((request.body, guess))
        else:
            slot = rng.randrange(requests)
            if slot < options.sample_size:
                sample[slot] = (request.body, guess)
    line.requests, line.output_tokens_max = requests, output_max
    if target is None or not sample:
        line.input_tokens, line.token_method = estimated, "estimated"
        return
    try:
        counted = await _count_sample(spec, target, [body for body, _ in sample])
    except RemoteError as exc:
        # The numbers are advice; the reviewer still gets them, and the reason, which
        # often matters more (e.g. the model is not enabled in the project).
        line.input_tokens, line.token_method = estimated, "estimated"
        line.notes.append(f"count-tokens failed, input tokens estimated offline: {exc}")
        return
    line.sampled = len(sample)
    if len(sample) == requests:
        line.input_tokens, line.token_method = sum(counted), "counted"
        return
    line.input_tokens = extrapolate(estimated, sum(g for _, g in sample), sum(counted), len(sample), requests)
    line.token_method = "sampled"
    line.notes.append(f"input tokens extrapolated from {len(sample)} of {requests} requests")


async def _count_sample(spec: JobSpec, target: Target, bodies: list[dict[str, Any]]) -> list[int]:
    from runner.clients import DEFAULT_REGION
    from runner.render.token_estimates import count_tokens

    # count-tokens is regional only: a `global` stream spec is counted in the default region.
    client = target.anthropic(DEFAULT_REGION if target.region == "global" else target.region)
    gate = asyncio.Semaphore(COUNT_CONCURRENCY)

    async def one(body):
        async with gate:
            return await count_tokens(client, spec.model, body)

    try:
        return list(await asyncio.gather(*(one(b) for b in bodies)))
    finally:
        await client.close()


# -- small helpers --------------------------------------------------------------


def _reads_remote_input(spec: JobSpec) -> bool:
    refs = [spec.template.source if spec.template else None, spec.prepared]
    return any(ref is not None and ref.kind != "file" for ref in refs) or _has_gcs_image(spec)


def _has_gcs_image(spec: JobSpec) -> bool:
    messages = [m for p in spec.prompts or () for m in p.messages]
    if spec.template:
        messages += spec.template.messages
    return any(_walk_gcs(m) for m in messages)


def _walk_gcs(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("type") == "gcs" or any(_walk_gcs(v) for v in node.values())
    if isinstance(node, list):
        return any(_walk_gcs(v) for v in node)
    return False


def build_plan(specs: list[JobSpec], errors: list[str], target: Target | None, options: PlanOptions) -> Plan:
    """Plan `specs` (from `load_specs`); render errors join the invalid specs' `errors`."""
    errors = list(errors)
    lines = asyncio.run(plan_specs(specs, target, options, errors))
    return Plan(
        specs=lines,
        errors=errors,
        offline=options.offline,
        target=target.description
        if target
        else "offline (no network)"
        if options.offline
        else "none (no valid spec to plan)",
    )
