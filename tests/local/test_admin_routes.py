"""The /_local admin routes answer loopback callers only: no web page can reconfigure the stack
or read the logged prompts through the developer's browser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest


def _status(url: str, method: str = "GET", headers: dict | None = None) -> int:
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
        assert exc.code != 403 or body["error"]["status"] == "PERMISSION_DENIED"
        return exc.code


ROUTES = [
    ("GET", "/_local/requests"),
    ("GET", "/_local/config"),
    ("POST", "/_local/config"),
    ("POST", "/_local/reset"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_loopback_callers_reach_the_admin_routes(_vertex_process, method, path):
    port = _vertex_process.url.rsplit(":", 1)[1]
    assert _status(_vertex_process.url + path, method) == 200
    assert _status(_vertex_process.url + path, method, {"Host": f"localhost:{port}"}) == 200
    assert _status(_vertex_process.url + path, method, {"Origin": f"http://127.0.0.1:{port}"}) == 200


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example:8790"},  # DNS rebinding: the page's own name
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_admin_routes_refuse_other_hosts_and_cross_origin_requests(_vertex_process, method, path, headers):
    assert _status(_vertex_process.url + path, method, headers) == 403


def test_the_vertex_routes_are_not_guarded(_vertex_process):
    url = _vertex_process.url + "/v1/projects/p/locations/us-east5/publishers/anthropic/models/x:rawPredict"
    assert _status(url, "POST", {"Origin": "https://attacker.example"}) != 403
