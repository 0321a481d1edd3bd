"""Helpers of the seeds' sample tests: `adapt()` a sample, and `Seeds`, which runs samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

TOKEN = "local-seeds-token"
LOCATION = "us-east5"


def adapt(sample: str, *replacements: tuple[str, str]) -> str:
    """`sample` with each (old, new) applied; every `old` must occur in the sample."""
    text = textwrap.dedent(sample).strip("\n") + "\n"
    for old, new in replacements:
        assert old in text, f"the sample no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class Seeds:
    """The local stack as the samples see it, and how to run them."""

    def __init__(self, url: str, project: str, bin_dir: Path):
        self.url = url
        self.project = project
        self.bin_dir = bin_dir

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "GOOGLE_"))}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def run_python(self, code: str, folder: Path, timeout: float = 120, **env: str) -> str:
        path = folder / "sample.py"
        path.write_text(code)
        done = subprocess.run(
            [sys.executable, str(path)],
            cwd=folder,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"sample failed ({done.returncode}):\n{done.stderr[-3000:]}"
        return done.stdout

    def run_shell(self, script: str, folder: Path, timeout: float = 60) -> str:
        path = folder / "sample.sh"
        path.write_text(script)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", str(path)],
            cwd=folder,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"sample failed ({done.returncode}):\n{done.stderr[-3000:]}"
        return done.stdout

    def job(self, name: str) -> dict:
        with urllib.request.urlopen(f"{self.url}/v1/{name}", timeout=10) as response:
            return json.loads(response.read())

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/_local/requests", timeout=10) as response:
            return json.loads(response.read())["requests"]
