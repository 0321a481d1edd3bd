"""The pre-commit hooks of .pre-commit-config.yaml pass a clean tree and refuse a bad spec or bad Python.

The tests run the real `pre-commit` (from the dev extra). The ruff and validate hooks run in a
throwaway git repository holding this repository's hook config, pyproject.toml and jobs/, with
.venv linked in: the hooks are local and run the project's own tools, so nothing is fetched.
The mypy and import-contract hooks check runner/ as a whole, so they run on this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
WHOLE_PACKAGE_HOOKS = ("lint-imports", "mypy")


@pytest.fixture
def hooked_repo(tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    for name in (".pre-commit-config.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "jobs", work / "jobs", ignore=shutil.ignore_patterns("results"))
    (work / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    (work / "tools").mkdir()
    (work / "tools" / "ok.py").write_text('"""A tidy module."""\n\nVALUE = 1\n')
    _git(work, "init", "-q")
    return work


def _git(work: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=work, check=True, capture_output=True, timeout=60)


def _pre_commit(work: Path, tmp_path: Path, *hooks: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_JOBS_")}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    if work != REPO:
        _git(work, "add", "-A")
        env["SKIP"] = ",".join(WHOLE_PACKAGE_HOOKS)  # no runner/ here; see the last test
    return subprocess.run(
        [str(VENV_BIN / "pre-commit"), "run", *hooks, "--all-files", "--color", "never"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hooks_pass_a_clean_tree(hooked_repo, tmp_path):
    result = _pre_commit(hooked_repo, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "claude-jobs validate jobs/"):
        assert any(line.startswith(hook) and line.endswith("Passed") for line in result.stdout.splitlines())


def test_hooks_refuse_an_invalid_job_spec_naming_its_line(hooked_repo, tmp_path):
    shutil.copy(
        REPO / "tests" / "specs" / "invalid" / "bad-name.yaml", hooked_repo / "jobs" / "bad-name.yaml"
    )
    result = _pre_commit(hooked_repo, tmp_path)
    assert result.returncode == 1
    assert "claude-jobs validate jobs/" in result.stdout
    assert "jobs/bad-name.yaml:2:7: $.name: 'Ticket Triage' is not a valid job name" in result.stdout


def test_hooks_refuse_python_that_fails_ruff(hooked_repo, tmp_path):
    (hooked_repo / "tools" / "bad.py").write_text("import os\nfrom .ok import VALUE\n")
    result = _pre_commit(hooked_repo, tmp_path)
    assert result.returncode == 1
    assert "F401" in result.stdout  # unused import
    assert "TID252" in result.stdout  # relative import: the house rule is absolute imports only


@pytest.mark.parametrize("hook", WHOLE_PACKAGE_HOOKS)
def test_whole_package_hook_passes_on_this_repository(hook, tmp_path):
    # Read-only checks (no hook here rewrites files), run where runner/ and infra/ are.
    result = _pre_commit(REPO, tmp_path, hook)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("Passed")
