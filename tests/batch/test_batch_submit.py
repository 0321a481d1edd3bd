"""Submission is idempotent across crashes: a job is found by display name and labels first."""

from __future__ import annotations

import pytest

from runner.batch.identity import JobKey
from runner.batch.jobs import JobApi
from runner.batch.record import SubmissionRecord
from runner.batch.staging import Layout, StagedPart
from runner.batch.submit import Submitter, job_body

pytestmark = pytest.mark.usefixtures("server")


class _Spec:
    model = "claude-haiku-4-5@20251001"
    labels: dict = {}

    def __init__(self, name):
        self.name = name


def claims(local_stack, name):
    from runner.state import open_state
    from runner.state.claims import SubmissionClaims

    store = open_state(f"gs://claude-jobs-local/claims-tests/{name}", local_stack)
    return SubmissionClaims(store, local_stack.project, name, "r1")


def setup(local_stack, tmp_path, name):
    spec = _Spec(name)
    layout = Layout("gs://claude-jobs-local/examples", "gs://claude-jobs-local/sub-out", name, "r1")
    key = JobKey(0, 0, 1)
    body = job_body(
        spec, layout, StagedPart(key, ("gs://claude-jobs-local/examples/tickets.jsonl",), 20), "r1"
    )
    api = JobApi.for_target(local_stack, "us-east5")
    record = SubmissionRecord(name, "r1", root=tmp_path)
    return api, record, key, body


def test_a_job_created_just_before_a_crash_is_found_and_not_created_again(local_stack, tmp_path):
    api, record, key, body = setup(local_stack, tmp_path, "crash-after-create")
    record.sending(body["display_name"])  # the crashed run sent a create...
    created = api.create(body)  # ...which reached Vertex
    sleeps: list[float] = []
    submitter = Submitter(api, record, "crash-after-create", "r1", sleep=sleeps.append)
    job = submitter.submit(body, key)
    assert job.name == created.name and submitter.created == [] and sleeps == []
    assert record.job(body["display_name"]) == created.name


def test_an_unanswered_create_waits_for_the_job_to_show_before_creating(local_stack, tmp_path):
    api, record, key, body = setup(local_stack, tmp_path, "crash-before-create")
    record.sending(body["display_name"])  # the create never reached Vertex
    sleeps: list[float] = []
    submitter = Submitter(api, record, "crash-before-create", "r1", sleep=sleeps.append)
    job = submitter.submit(body, key)
    assert sleeps and submitter.created == [job.name]
    assert [j.name for j in api.list(f'display_name="{body["display_name"]}"')] == [job.name]


def test_a_refused_create_leaves_no_intent_behind(local_stack, tmp_path):
    from runner.errors import RemoteError

    api, record, key, body = setup(local_stack, tmp_path, "refused")
    body["model"] = "publishers/anthropic/models/claude-no-such-model"
    with pytest.raises(RemoteError):
        Submitter(api, record, "refused", "r1").submit(body, key)
    assert record.intent_age(body["display_name"]) is None


def test_two_runners_at_once_create_one_job_and_both_attach_to_it(local_stack, tmp_path):
    import threading

    api, _, key, body = setup(local_stack, tmp_path, "two-runners")
    results: dict[str, str] = {}
    both_looked = threading.Barrier(2)

    class Racing(Submitter):
        """Both runners look (and find nothing) before either may go on to create."""

        looked = False

        def find(self, key):
            job = super().find(key)
            if not self.looked:
                self.looked = True
                both_looked.wait(timeout=30)
            return job

    def runner(machine: str):
        record = SubmissionRecord("two-runners", "r1", root=tmp_path / machine)
        submitter = Racing(api, record, "two-runners", "r1", claims=claims(local_stack, "two-runners"))
        results[machine] = submitter.submit(body, key).name

    threads = [threading.Thread(target=runner, args=(m,)) for m in ("ci-a", "ci-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    jobs = api.list(f'display_name="{body["display_name"]}"')
    assert len(jobs) == 1 and set(results.values()) == {jobs[0].name}


def test_a_claim_left_by_our_own_crashed_run_is_taken_over(local_stack, tmp_path):
    api, record, key, body = setup(local_stack, tmp_path, "own-claim")
    held = claims(local_stack, "own-claim")
    record.sending(body["display_name"])  # the crashed run noted its intent...
    assert held.take(body["display_name"])  # ...and claimed, then died
    sleeps: list[float] = []
    submitter = Submitter(api, record, "own-claim", "r1", sleep=sleeps.append, claims=held)
    job = submitter.submit(body, key)
    assert submitter.created == [job.name]


def test_a_live_claim_of_another_machine_is_respected(local_stack, tmp_path):
    from runner.errors import StateError

    api, record, key, body = setup(local_stack, tmp_path, "their-claim")
    assert claims(local_stack, "their-claim").take(body["display_name"])  # someone else's
    submitter = Submitter(
        api, record, "their-claim", "r1", sleep=lambda s: None, claims=claims(local_stack, "their-claim")
    )
    with pytest.raises(StateError, match="another claude-jobs run"):
        submitter.submit(body, key)
    assert api.list(f'display_name="{body["display_name"]}"') == []
