"""Plan arithmetic: extrapolating counted tokens from a bounded sample."""

from __future__ import annotations

from runner.gitops.plan import extrapolate


def test_extrapolation_scales_every_estimate_by_the_counted_to_estimated_ratio_of_the_sample():
    # 1000 requests estimated at 50_000 tokens; the sample of 10 estimated 500, counted 600.
    assert extrapolate(50_000, 500, 600, 10, 1000) == 60_000


def test_extrapolation_falls_back_to_the_sample_mean_when_estimates_are_zero():
    assert extrapolate(0, 0, 70, 7, 100) == 1000


def test_the_sample_is_the_same_on_every_plan_so_pull_request_comments_are_stable(tmp_path, monkeypatch):
    import asyncio

    from gitops_repo import make_repo

    import runner.gitops.plan
    from runner.clients import Target
    from runner.gitops.plan import PlanOptions, SpecPlan, count_spec
    from runner.spec import load_spec

    seen = []

    async def count_by_length(spec, target, bodies):
        seen.append([len(str(b)) for b in bodies])
        return [len(str(b)) // 3 for b in bodies]

    monkeypatch.setattr(runner.gitops.plan, "_count_sample", count_by_length)
    repo = make_repo(tmp_path / "repo", ("stream-template-csv-image.yaml",))
    spec = load_spec(repo.jobs / "stream-template-csv-image.yaml")
    lines = []
    for _ in range(2):
        line = SpecPlan(
            name=spec.name,
            path="",
            mode=spec.mode,
            model=spec.model,
            region=spec.region,
            destination=spec.destination,
        )
        asyncio.run(count_spec(spec, Target(project="p"), PlanOptions(sample_size=5), line))
        lines.append(line)
    assert seen[0] == seen[1] and len(seen[0]) == 5
    assert lines[0].input_tokens == lines[1].input_tokens
    assert (lines[0].token_method, lines[0].sampled, lines[0].requests) == ("sampled", 5, 20)
