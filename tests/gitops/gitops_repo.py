"""Harness for the GitOps tests: a throwaway repository holding copies of the example specs.

Spec names (and BigQuery destinations) get a unique suffix so that jobs from
one test never look like another test's runs on the shared session stack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "jobs" / "examples"
CLI = Path(sys.executable).parent / "claude-jobs"
STREAM_EXAMPLES = ("stream-inline.yaml", "stream-template-csv-image.yaml")


@dataclass
class Repo:
    root: Path
    suffix: str

    @property
    def jobs(self) -> Path:
        return self.root / "jobs" / "examples"

    def name(self, example: str) -> str:
        """The (suffixed) spec name of an example file, e.g. `stream-inline-1a2b3c`."""
        return f"{Path(example).stem}-{self.suffix}"

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.jobs / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`claude-jobs ARGS` in this repository, on the session's local stack."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")}
        env["CLAUDE_JOBS_HOME"] = str(self.root / ".claude-jobs")
        return subprocess.run([str(CLI), *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=280)

    def json(self, *args: str) -> tuple[int, dict]:
        done = self.cli(*args, "--format", "json")
        try:
            return done.returncode, json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"exit {done.returncode}\nstdout:\n{done.stdout}\n"
                                 f"stderr:\n{done.stderr}") from None

    def specs_by_name(self, plan: dict) -> dict[str, dict]:
        return {s["name"]: s for s in plan["specs"]}


def make_repo(root: Path, examples: tuple[str, ...] | None = None) -> Repo:
    """Copy jobs/examples (or only `examples`) into `root`, a fresh repository folder."""
    suffix = uuid.uuid4().hex[:6]
    (root / ".git").mkdir(parents=True)          # the repository root for relative paths
    target = root / "jobs" / "examples"
    shutil.copytree(EXAMPLES, target)
    for spec in target.glob("*.yaml"):
        if examples is not None and spec.name not in examples:
            spec.unlink()
            continue
        text = spec.read_text()
        text = re.sub(r"^name: (\S+)", rf"name: \1-{suffix}", text, count=1, flags=re.M)
        text = re.sub(r"^(destination: bq://\S+)", rf"\1_{suffix}", text, count=1, flags=re.M)
        text = re.sub(r"^(\s+poll_interval:) \S+", r"\1 1s", text, flags=re.M)
        spec.write_text(text)
    return Repo(root=root, suffix=suffix)
