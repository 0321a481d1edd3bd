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


def setup(local_stack, tmp_path, name):
    spec = _Spec(name)
    layout = Layout("gs://claude-jobs-local/examples", "gs://claude-jobs-local/sub-out",
                    name, "r1")
    key = JobKey(0, 0, 1)
    body = job_body(spec, layout, StagedPart(
        key, ("gs://claude-jobs-local/examples/tickets.jsonl",), 20), "r1")
    api = JobApi.for_target(local_stack, "us-east5")
    record = SubmissionRecord(name, "r1", root=tmp_path)
    return api, record, key, body


def test_a_job_created_just_before_a_crash_is_found_and_not_created_again(local_stack,
                                                                          tmp_path):
    api, record, key, body = setup(local_stack, tmp_path, "crash-after-create")
    record.sending(body["display_name"])          # the crashed run sent a create...
    created = api.create(body)                    # ...which reached Vertex
    sleeps: list[float] = []
    submitter = Submitter(api, record, "crash-after-create", "r1", sleep=sleeps.append)
    job = submitter.submit(body, key)
    assert job.name == created.name and submitter.created == [] and sleeps == []
    assert record.job(body["display_name"]) == created.name


def test_an_unanswered_create_waits_for_the_job_to_show_before_creating(local_stack,
                                                                        tmp_path):
    api, record, key, body = setup(local_stack, tmp_path, "crash-before-create")
    record.sending(body["display_name"])          # the create never reached Vertex
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
