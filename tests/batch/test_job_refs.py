"""A batch job ref (bare ID or full resource name) is parsed without a target; anything else is refused."""

from __future__ import annotations

import pytest

from runner.batch.lookup import parse_job_ref
from runner.errors import UsageError

NAME = "projects/p/locations/europe-west1/batchPredictionJobs/123"


def test_a_full_resource_name_gives_its_own_region_and_id():
    assert parse_job_ref(NAME + "/") == (NAME, "europe-west1", "123")


def test_a_bare_id_leaves_name_and_region_to_the_target():
    assert parse_job_ref("4567") == (None, None, "4567")


def test_a_ref_shaped_like_neither_is_a_usage_error_naming_the_argument():
    with pytest.raises(UsageError) as err:
        parse_job_ref("projects/p/batchPredictionJobs/1")
    assert err.value.exit_code == 2
    assert str(err.value) == (
        "SPEC|JOB: not a spec file or a batch job: "
        "'projects/p/batchPredictionJobs/1' (pass a spec path, a job ID, or "
        "projects/P/locations/L/batchPredictionJobs/ID)"
    )


def test_cancel_refuses_a_malformed_resource_name_with_one_line_before_any_target(monkeypatch, capsys):
    import runner.cli.targets as clients
    from runner.cli import invoke

    monkeypatch.setattr(
        clients, "open_target", lambda *a, **k: pytest.fail("a target was opened for a bad ref")
    )
    assert invoke(["cancel", "projects/p/batchPredictionJobs/1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: SPEC|JOB: not a spec file or a batch job: 'projects/p/batchPredictionJobs/1' "
        "(pass a spec path, a job ID, or projects/P/locations/L/batchPredictionJobs/ID)"
    ]
