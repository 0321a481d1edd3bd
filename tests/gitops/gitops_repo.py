"""Harness for the GitOps tests: a throwaway repository holding copies of the example specs.

Spec names (and BigQuery destinations) get a unique suffix so that jobs from
one test never look like another test's runs on the shared session stack.
Stream specs get quotas far above the catalog's (`LIFTED_QUOTAS`): what these
tests apply is plan/apply, not the limiter (tests/stream/test_limiter.py), and
under the catalog quotas pacing alone made each apply of the two 5-row
examples take ~10 s.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "jobs" / "examples"
STREAM_EXAMPLES = ("stream-inline.yaml", "stream-template-csv-image.yaml")
LIFTED_QUOTAS = "  requests_per_minute: 1000000\n  input_tokens_per_minute: 1000000000\n  output_tokens_per_minute: 1000000000\n"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


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

    def cli(self, *args: str) -> Result:
        """`claude-jobs ARGS` run in this process (as `main` runs it), inside this repository."""
        from runner.cli import invoke

        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            patch.setenv("CLAUDE_JOBS_HOME", str(self.root / ".claude-jobs"))
            for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
                patch.delenv(var, raising=False)
            with redirect_stdout(out), redirect_stderr(err):
                code = invoke(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    def json(self, *args: str) -> tuple[int, dict]:
        done = self.cli(*args, "--format", "json")
        try:
            return done.code, json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"exit {done.code}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            ) from None

    def specs_by_name(self, plan: dict) -> dict[str, dict]:
        return {s["name"]: s for s in plan["specs"]}


def make_repo(root: Path, examples: tuple[str, ...] | None = None) -> Repo:
    """Copy jobs/examples (or only `examples`) into `root`, a fresh repository folder."""
    suffix = uuid.uuid4().hex[:6]
    (root / ".git").mkdir(parents=True)  # the repository root for relative paths
    target = root / "jobs" / "examples"
    # Not results/: outputs of runs made in the working tree are not part of a fresh repository.
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("results"))
    for spec in target.glob("*.yaml"):
        if examples is not None and spec.name not in examples:
            spec.unlink()
            continue
        text = spec.read_text()
        text = re.sub(r"^name: (\S+)", rf"name: \1-{suffix}", text, count=1, flags=re.M)
        text = re.sub(r"^(destination: bq://\S+)", rf"\1_{suffix}", text, count=1, flags=re.M)
        text = re.sub(r"^(\s+poll_interval:) \S+", r"\1 1s", text, flags=re.M)
        if re.search(r"^mode: stream$", text, flags=re.M):
            text, lifted = re.subn(r"^stream:\n", "stream:\n" + LIFTED_QUOTAS, text, count=1, flags=re.M)
            if not lifted:
                text += "stream:\n" + LIFTED_QUOTAS
        spec.write_text(text)
    return Repo(root=root, suffix=suffix)


def _post_config(vertex_url: str, changes: dict) -> None:
    request = urllib.request.Request(
        f"{vertex_url}/_local/config",
        data=json.dumps(changes).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def fast_batch_jobs(vertex_url: str, speed: float = 20.0) -> Iterator[None]:
    """The local server's simulated batch jobs run `speed` x faster (well under a second); restored after.

    What apply is tested for is its bookkeeping, not how long a simulated job sits in QUEUED.
    """
    with urllib.request.urlopen(f"{vertex_url}/_local/config", timeout=10) as response:
        original = json.loads(response.read())["batch"]
    _post_config(vertex_url, {"batch": {**original, "speed": speed}})
    try:
        yield
    finally:
        _post_config(vertex_url, {"batch": original})
