"""A batch job call that got no answer is a transient RemoteError a wait polls through; a bug is not."""

from __future__ import annotations

import dataclasses

import pytest

from runner.batch.jobs import JobApi, transient
from runner.errors import RemoteError


def test_an_unreachable_vertex_is_a_transient_remote_error_a_wait_polls_through(local_stack, dead_url):
    target = dataclasses.replace(local_stack, vertex_url=dead_url)
    api = JobApi.for_target(target, target.region)
    with pytest.raises(RemoteError) as err:
        api.get(f"projects/{target.project}/locations/{target.region}/batchPredictionJobs/1")
    assert err.value.message.startswith("Vertex AI refused reading job projects/")
    assert "ConnectionError" in err.value.message and err.value.status is None
    assert transient(err.value)


def test_a_bug_inside_a_job_call_is_not_reported_as_a_remote_error():
    def broken(**kwargs):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        JobApi._call("reading job 1", broken)
