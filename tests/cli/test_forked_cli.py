"""tests/forked_cli.py: a forked `claude-jobs` behaves as an exec'd one where the kill tests look."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("claude-jobs"))


def test_a_forked_run_prints_and_exits_as_the_console_script_does(forked_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\nmodel: [\n")
    env = {**os.environ, "CLAUDE_JOBS_HOME": str(tmp_path / "state")}
    exec_d = subprocess.run([CLI, "run", "bad.yaml"], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    forked = forked_cli.spawn(["run", "bad.yaml"], cwd=tmp_path, env=env)
    out, err = forked.communicate(timeout=120)
    assert (forked.returncode, out, err) == (exec_d.returncode, exec_d.stdout, exec_d.stderr)
    assert forked.returncode != 0 and err.startswith(b"error: ")


def test_a_forked_run_sees_its_own_environment_and_folder(forked_cli, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    env = {"PATH": os.environ["PATH"], "CLAUDE_JOBS_HOME": str(tmp_path / "home")}
    forked = forked_cli.spawn(["local", "status", "--format", "json"], cwd=tmp_path / "elsewhere", env=env)
    out, _ = forked.communicate(timeout=120)
    # No stack under this home (exit 3), whatever the test process's $CLAUDE_JOBS_LOCAL_DIR says.
    assert forked.returncode == 3
    assert json.loads(out)["state_dir"] == str(tmp_path / "home" / "local")
