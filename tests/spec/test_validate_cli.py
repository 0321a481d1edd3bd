"""`claude-jobs validate`: exit codes, text and JSON output, folders, and a light import footprint."""

from __future__ import annotations

import json
import subprocess
import sys

from spec.support import REPO, SPECS, STACK_OUTPUTS

BAD = "tests/specs/invalid/negative-max-tokens.yaml"
WARNS = "tests/specs/valid/retired-model-warns.yaml"
EXAMPLES = len(list((REPO / "jobs" / "examples").glob("*.yaml")))  # every example spec is counted


def test_examples_are_valid_and_exit_0(run_cli):
    code, out, err = run_cli("validate", "jobs/examples")
    assert code == 0
    assert out == ""
    assert f"{EXAMPLES} specs: {EXAMPLES} valid, 0 invalid" in err


def test_examples_are_valid_against_the_local_stack_outputs(run_cli):
    code, out, _ = run_cli("validate", "--stack-outputs", str(STACK_OUTPUTS), "jobs/examples")
    assert (code, out) == (0, "")


def test_jobs_folder_is_the_default_path_and_every_spec_in_it_is_valid(run_cli):
    assert run_cli("validate")[:2] == (0, "")


def test_invalid_spec_exits_1_with_its_located_error_on_stdout(run_cli):
    code, out, _ = run_cli("validate", BAD)
    assert code == 1
    assert out.splitlines() == [f"{BAD}:14:17: $.prompts[3].max_tokens: -1 is less than the minimum of 1"]


def test_every_error_of_every_file_is_reported(run_cli):
    other = "tests/specs/invalid/mode-invalid.yaml"
    code, out, err = run_cli("validate", BAD, "jobs/examples", other)
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()] == [BAD, other]
    assert f"{EXAMPLES + 2} specs: {EXAMPLES} valid, 2 invalid (2 errors" in err


def test_all_errors_of_one_file_are_reported_in_line_order(run_cli, spec_file):
    path = spec_file("name: Bad\nmodel: claude-x\nmode: strem\nprompts: []\ndestination: r.jsonl\n")
    code, out, _ = run_cli("validate", str(path))
    lines = out.splitlines()
    assert code == 1
    assert [line.split(":")[1] for line in lines] == ["1", "2", "3", "4"]


def test_warnings_are_printed_but_do_not_fail(run_cli):
    code, out, _ = run_cli("validate", WARNS)
    assert code == 0
    assert "warning: claude-3-5-haiku@20241022 was retired" in out


def test_missing_path_is_a_usage_error_exit_2(run_cli):
    code, _, err = run_cli("validate", "jobs/nope.yaml")
    assert code == 2
    assert "jobs/nope.yaml: no such file or folder" in err


def test_folder_without_specs_is_a_usage_error(run_cli, tmp_path):
    assert run_cli("validate", str(tmp_path))[0] == 2


def test_unknown_format_is_a_usage_error(run_cli):
    assert run_cli("validate", "--format", "xml", "jobs/")[0] == 2


def test_unreadable_stack_outputs_are_a_configuration_error_exit_3(run_cli, tmp_path):
    broken = tmp_path / "outputs.json"
    broken.write_text("{not json")
    code, _, err = run_cli("validate", "--stack-outputs", str(broken), "jobs/")
    assert code == 3
    assert "not JSON" in err
    code, _, err = run_cli("validate", "--stack-outputs", str(tmp_path / "absent.json"), "jobs/")
    assert code == 3


def test_json_format_lists_files_errors_and_warnings(run_cli):
    code, out, _ = run_cli("validate", "--format", "json", BAD, WARNS)
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert document["summary"] == {"files": 2, "invalid_files": 1, "errors": 1, "warnings": 1}
    bad, warns = document["files"]
    assert bad["path"] == BAD and not bad["valid"]
    assert bad["errors"] == [
        {
            "line": 14,
            "column": 17,
            "path": "$.prompts[3].max_tokens",
            "message": "-1 is less than the minimum of 1",
            "hint": None,
            "rule": "schema.minimum",
            "severity": "error",
        }
    ]
    assert warns["valid"] and warns["warnings"][0]["rule"] == "model.retired"


def test_hidden_folders_are_skipped(run_cli, spec_file):
    spec_file("name: x\n", name=".cache/broken.yaml")
    good = (REPO / "jobs/examples/stream-inline.yaml").read_text()
    spec_file(good.replace("results/", "out/"), name="jobs/ok.yaml")
    assert run_cli("validate", str(spec_file.root))[0] == 0


def test_validate_never_imports_cloud_clients_or_the_local_stack():
    # `google` itself is a namespace package a .pth file imports at start-up: compare before/after.
    probe = (
        "import sys; before = set(sys.modules); from runner.cli import invoke; "
        "code = invoke(['validate', 'jobs/', 'tests/specs/invalid', '--format', 'json']); "
        "heavy = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
        "{'anthropic', 'google', 'aiohttp', 'duckdb', 'grpc', 'pulumi', 'httpx'}); "
        "print(code, heavy, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.stderr.strip().splitlines()[-1] == "1 []"


def test_console_script_prints_no_traceback_for_any_invalid_file():
    main = "import sys; from runner.cli import main; main(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-c", main, "validate", str(SPECS / "invalid")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_two_specs_with_one_name_are_an_error_on_the_second(run_cli, spec_file):
    text = (REPO / "jobs/examples/stream-inline.yaml").read_text().replace("results/", "out/")
    spec_file(text, name="jobs/a.yaml")
    spec_file(text, name="jobs/b.yaml")
    code, out, _ = run_cli("validate", str(spec_file.root / "jobs"))
    assert code == 1
    assert out.splitlines() == [
        f"{spec_file.root}/jobs/b.yaml:5:7: $.name: name 'stream-inline' is already used by "
        f"{spec_file.root}/jobs/a.yaml (a spec's name is its identity in job labels and ledgers: rename one)"
    ]


def test_two_specs_with_one_destination_are_an_error_on_the_second(run_cli, spec_file):
    text = (REPO / "jobs/examples/stream-inline.yaml").read_text().replace("results/", "out/")
    spec_file(text, name="jobs/a.yaml")
    # Another name, the same file named another way from another folder.
    other = text.replace("name: stream-inline", "name: other").replace(
        "destination: out/", "destination: ../jobs/out/"
    )
    spec_file(other, name="more/b.yaml")
    code, out, _ = run_cli("validate", str(spec_file.root / "jobs"), str(spec_file.root / "more"))
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"{spec_file.root}/more/b.yaml:")
    assert ": $.destination: destination '../jobs/out/" in line
    assert f"is already written by spec 'stream-inline' ({spec_file.root}/jobs/a.yaml)" in line


def test_specs_with_different_destinations_are_valid(run_cli, spec_file):
    text = (REPO / "jobs/examples/stream-inline.yaml").read_text().replace("results/", "out/")
    spec_file(text, name="jobs/a.yaml")
    spec_file(text.replace("name: stream-inline", "name: other").replace("out/", "out2/"), name="jobs/b.yaml")
    assert run_cli("validate", str(spec_file.root / "jobs"))[0] == 0


def test_the_same_file_given_twice_is_not_a_duplicate_name(run_cli):
    assert run_cli("validate", "jobs/examples/stream-inline.yaml", "jobs/examples")[0] == 0
