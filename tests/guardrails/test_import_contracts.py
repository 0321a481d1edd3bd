"""The import contracts bite: an import against the one-way flow of docs/internals.md fails `lint-imports`.

Each test copies runner/ and pyproject.toml to a temporary folder, adds one import to one
module of the copy, and runs `lint-imports` (as `make lint` does) with the project's own
contracts against the copy. The unmodified copy passes, so each failure is that import's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contract(prefix: str) -> str:
    """The full name of the contract of pyproject.toml whose name starts with `prefix`."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [name] = [c["name"] for c in contracts if c["name"].startswith(prefix)]
    return name


# (module of the copy, import appended to it, the contract it breaks)
BREAKS = {
    "spec-imports-a-cloud-client": ("runner/spec/build.py", "from google.cloud import storage", "spec/"),
    "stream-imports-batch": ("runner/stream/executor.py", "import runner.batch.run", "Layers:"),
    "batch-imports-stream": ("runner/batch/run.py", "import runner.stream.executor", "Layers:"),
    "a-layer-below-cli-imports-cli": ("runner/render/requests.py", "import runner.cli", "Layers:"),
    "local-imports-the-stream-executor": (
        "runner/local/server.py",
        "import runner.stream.executor",
        "The local stack is a fake",
    ),
    "execute-starts-the-local-stack": ("runner/execute.py", "import runner.local.stack", "Only the CLI"),
}


@pytest.fixture
def package_copy(tmp_path):
    shutil.copytree(REPO / "runner", tmp_path / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    # The copy first on the path (not the installed runner); wide lines so names never wrap.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "1000", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_unmodified_package_keeps_every_contract(package_copy):
    result = _lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_an_import_against_the_flow_breaks_its_contract(package_copy, case):
    module, statement, contract = BREAKS[case]
    path = package_copy / module
    path.write_text(path.read_text() + f"\n{statement}  # against the flow\n")
    result = _lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{_contract(contract)} BROKEN" in result.stdout
    assert "1 broken" in result.stdout
