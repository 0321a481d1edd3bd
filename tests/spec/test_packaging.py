"""An installed (non-editable) wheel carries the schemas and the catalog, and validate works from it."""

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
