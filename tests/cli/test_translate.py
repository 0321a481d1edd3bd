"""errors.translate: a library's own exception classes, matched with isinstance, become one-line errors.

Every exception here is the real class of its library. translate takes those classes from
`sys.modules` only, so it imports no library that the run did not already load.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.errors import EXIT_CONFIG, EXIT_REMOTE, translate

LIBRARIES = ("google", "anthropic", "httpx", "httpcore", "aiohttp", "requests", "urllib3")


def _network_errors():
    import aiohttp
    import httpcore
    import httpx
    import requests

    request = httpx.Request("GET", "http://127.0.0.1:9/")
    return [
        httpx.ConnectError("connection refused", request=request),
        httpx.ReadTimeout("timed out", request=request),
        httpcore.ReadTimeout("timed out"),
        aiohttp.ServerDisconnectedError("server disconnected"),
        requests.exceptions.ConnectionError("connection refused"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_each_network_library_failure_is_a_remote_error(index):
    exc = _network_errors()[index]
    error = translate(exc)
    assert error is not None and error.exit_code == EXIT_REMOTE, type(exc)
    assert str(error).startswith("network error: ")


def test_refused_google_credentials_are_a_configuration_error_naming_the_variable():
    from google.auth.exceptions import RefreshError

    error = translate(RefreshError("invalid_grant: token has been expired or revoked"))
    assert error is not None and error.exit_code == EXIT_CONFIG
    assert str(error).startswith(
        "GOOGLE_APPLICATION_CREDENTIALS: Google credentials were refused: invalid_grant"
    )


def test_an_unreachable_google_token_endpoint_says_so():
    from google.auth.exceptions import TransportError

    error = translate(TransportError("Failed to connect to oauth2.googleapis.com"))
    assert error is not None and error.exit_code == EXIT_CONFIG
    assert "cannot reach Google to get an access token" in str(error)


def test_a_google_error_wrapped_by_a_bug_free_caller_is_understood_through_its_cause():
    from google.api_core.exceptions import Forbidden

    try:
        try:
            raise Forbidden("caller lacks aiplatform.batchPredictionJobs.create")
        except Forbidden as exc:
            raise RuntimeError("submitting failed") from exc
    except RuntimeError as wrapper:
        error = translate(wrapper)
    assert error is not None and error.exit_code == EXIT_REMOTE
    assert "roles/aiplatform.user" in str(error)


def test_a_class_that_only_shares_a_library_name_and_module_is_still_a_bug():
    # Not the library's class: isinstance says so where a match on names would not.
    class GoogleAPIError(Exception):
        pass

    class ClientError(Exception):
        pass

    ClientError.__module__ = "aiohttp.client_exceptions"
    assert translate(GoogleAPIError("403 forbidden")) is None
    assert translate(ClientError("disconnected")) is None


def test_translate_imports_no_library_the_process_had_not_loaded():
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)  # a namespace-package .pth may preload `google` itself\n"
        "from runner.errors import translate\n"
        "for exc in (ValueError('bug'), FileNotFoundError(2, 'No such file', '/x'), ConnectionResetError()):\n"
        "    translate(exc)\n"
        f"print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {LIBRARIES!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []
