"""Headless Chromium for the report tests: the rendered DOM, a screenshot, and every network
request the page made (from Chrome's own net log)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "chrome-error:", "blob:")


def chromium() -> str:
    """The Chromium `make test` installs from Debian's packages; without one the test is skipped,
    except in CI (CI=true, or CLAUDE_JOBS_REQUIRE_BROWSER=1), where it fails."""
    found = os.environ.get("CHROMIUM") or next(
        # Debian's package first; GitHub's hosted runners ship Chromium or Google Chrome.
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
        None,
    )
    if not found:
        why = "no chromium on PATH (make test installs Debian's chromium: apt-get install chromium)"
        if os.environ.get("CLAUDE_JOBS_REQUIRE_BROWSER") or os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


@dataclass
class Visit:
    dom: str  # the DOM after scripts ran
    requests: list[str]  # every URL the page asked for that is not the page itself or local data
    console: str  # Chromium's stderr: console messages, CSP violations


def visit(page: Path, *, screenshot: Path | None = None, dark: bool = False, size=(1280, 4000)) -> Visit:
    """Open `page` in a fresh headless Chromium; dump its DOM (or take a screenshot)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as home:
        netlog = Path(home) / "netlog.json"
        args = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={home}/profile",
            f"--log-net-log={netlog}",
            f"--window-size={size[0]},{size[1]}",
        ]
        if dark:
            args += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        done = subprocess.run(
            [*args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": home},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return Visit(dom=done.stdout, requests=_requests(netlog), console=done.stderr)


def _requests(netlog: Path) -> list[str]:
    """URLs the page asked for, from a Chrome net log.

    Every request starts a URL_REQUEST_START_JOB event; Chromium's own background requests
    (update checks, sign-in) carry the initiator "not an origin", a page's carry its origin
    (a file:// page's is "null"). The page's own file:// URL and data: URLs are not network.
    """
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short: close it
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = []
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") != start_job or params.get("initiator") == "not an origin":
            continue
        url = params.get("url")  # the event's end carries no URL
        if url and not str(url).startswith(LOCAL_SCHEMES):
            found.append(url)
    return found
