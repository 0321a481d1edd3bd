"""A batch job call that got no answer is a transient RemoteError a wait polls through; a bug is not."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from runner.batch.jobs import JobApi, transient
from runner.errors import RemoteError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_vertex_is_a_transient_remote_error_a_wait_polls_through(local_stack):
    target = dataclasses.replace(local_stack, vertex_url=f"http://127.0.0.1:{_closed_port()}")
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
