"""The CLI driven in-process through its real entry point (`runner.cli.invoke`)."""

from __future__ import annotations

import pytest

from runner.cli import invoke
from runner.spec.stack_outputs import ENV_VARS

PROJECT_VARS = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run `claude-jobs ARGS`; return (exit code, stdout, the `error:` lines of stderr).

    No project and no platform (`CLAUDE_JOBS_*` stack outputs) come from the caller's environment.
    """
    for var in (*PROJECT_VARS, *ENV_VARS.values(), "CLAUDE_JOBS_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path / "home"))

    def run(*args: str):
        code = invoke([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, [line for line in err.splitlines() if line.startswith("error:")]

    return run
