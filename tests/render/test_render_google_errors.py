"""Reading a gs:// input: a library's refusal is a located RemoteError, a bug is not disguised as one."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import NotFound

from runner.dataio.sources import gcs_blob
from runner.errors import RemoteError


class _Client:
    def __init__(self, exc: Exception):
        self.exc = exc

    def bucket(self, name):
        raise self.exc


def test_a_google_refusal_reading_an_object_is_a_located_remote_error():
    with pytest.raises(RemoteError) as err:
        gcs_blob(None, "gs://b/o.jsonl", "$.template.source", _Client(NotFound("gone")))
    assert err.value.exit_code == 4 and err.value.status == 404
    assert str(err.value) == (
        "$.template.source: cannot read gs://b/o.jsonl: Google Cloud refused "
        "the request: 404 gone (check the project, region, model and "
        "resource names)"
    )


def test_a_bug_while_reading_an_object_is_not_reported_as_a_remote_error():
    with pytest.raises(KeyError):
        gcs_blob(None, "gs://b/o.jsonl", "$.template.source", _Client(KeyError("bug")))
