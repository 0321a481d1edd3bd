"""Bad input anywhere in the CLI: one located `error:` line, a documented exit code, no traceback.

Each test drives the real entry point (`runner.cli.invoke`) in-process. Only the tests
that need a running target use the session's local stack.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from runner.cli import invoke
from runner.errors import EXIT_CONFIG, EXIT_INVALID, EXIT_REMOTE, EXIT_USAGE, translate

REPO = Path(__file__).resolve().parents[2]
STREAM_SPEC = REPO / "jobs" / "examples" / "stream-inline.yaml"
BATCH_SPEC = REPO / "jobs" / "examples" / "batch-gcs-to-bq.yaml"


@pytest.fixture
def repo(tmp_path):
    """A scratch repository (spec paths must stay inside one) with the stream example."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copy(STREAM_SPEC, root / "spec.yaml")
    return root


@pytest.fixture
def no_stack(monkeypatch, tmp_path):
    """A stack folder with nothing running: a command that tried to start one would fail the test."""
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "no-stack"))

    def refuse(*args, **kwargs):
        raise AssertionError("the local stack must not start for this input")

    monkeypatch.setattr("runner.local.stack.ensure_up", refuse)


def _no_adc(monkeypatch, tmp_path):
    """No Application Default Credentials anywhere, and no metadata server probe."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def _service_account(tmp_path, token_uri: str) -> Path:
    """A service account key whose token endpoint is `token_uri` (loopback only: never Google)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k",
                "private_key": pem,
                "client_email": "runner@p.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


# -- flags and arguments ---------------------------------------------------------------------


def test_an_unknown_format_is_one_usage_line_naming_the_flag(cli):
    code, _, errors = cli("run", STREAM_SPEC, "--format", "xml")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: --format: 'xml' is not one of")


def test_a_negative_limit_is_refused_naming_the_flag(cli):
    code, _, errors = cli("results", STREAM_SPEC, "--limit", "-1")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: --limit: -1 is not in the range")


def test_a_limit_too_large_for_a_row_count_is_a_usage_error(cli):
    code, _, errors = cli("results", STREAM_SPEC, "--limit", "99999999999999999999")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith(
        "error: --limit: 99999999999999999999 is not in the range"
    )


def test_a_missing_argument_is_one_usage_line(cli):
    code, _, errors = cli("run")
    assert code == EXIT_USAGE
    assert errors == ["error: Missing argument 'SPEC' (see `claude-jobs run --help`)"]


def test_an_unknown_command_is_one_usage_line(cli):
    code, _, errors = cli("frobnicate")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and "No such command 'frobnicate'" in errors[0]


def test_an_empty_region_is_refused_before_any_target(cli, no_stack):
    code, _, errors = cli("run", STREAM_SPEC, "--region", "")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: --region: empty region")


def test_an_unknown_region_is_refused_with_the_known_ones(cli, no_stack):
    code, _, errors = cli("list", "--region", "mars-1")
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith("error: --region: 'mars-1' is not a Vertex AI location")
    assert "us-east5" in errors[0]


def test_a_region_where_the_model_cannot_run_the_mode_is_refused(cli, no_stack):
    code, _, errors = cli("run", BATCH_SPEC, "--region", "global")
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith("error: --region: claude-haiku-4-5@20251001 does not run batch")


def test_local_logs_refuses_a_negative_line_count(cli):
    code, _, errors = cli("local", "logs", "-n", "-5")
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: -n/--lines: -5 is not in the range")


# -- spec paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "status", "results", "cancel"])
def test_a_missing_spec_file_is_a_usage_error_before_any_target(cli, no_stack, command):
    code, _, errors = cli(command, "nope.yaml")
    assert code == EXIT_USAGE
    assert errors == ["error: nope.yaml: no such file (pass the path of a spec file)"]


@pytest.mark.parametrize("command", ["status", "cancel"])
def test_a_folder_given_as_a_spec_is_a_usage_error_before_any_target(cli, no_stack, tmp_path, command):
    folder = tmp_path / "specs.yaml"
    folder.mkdir()
    code, _, errors = cli(command, folder)
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith(f"error: {folder}: is a folder, not a spec file")


def test_several_spec_errors_are_one_error_line_each(cli, no_stack, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nmode: strem\nmodel: nope\n")
    code, _, errors = cli("run", spec)
    assert code == EXIT_INVALID
    assert len(errors) == 4
    assert all(line.startswith(f"error: {spec}:") for line in errors)
    assert errors[2].startswith(f"error: {spec}:2:7: $.mode: 'strem' is not one of")


def test_a_destination_below_a_file_is_a_located_spec_error(cli, no_stack, repo):
    (repo / "results").write_text("a file where a folder is needed\n")
    spec = repo / "spec.yaml"
    spec.write_text(
        spec.read_text().replace("destination: results/stream-inline.jsonl", "destination: results/out.jsonl")
    )
    code, _, errors = cli("run", spec)
    assert code == EXIT_INVALID
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {spec}:")
    assert "$.destination: 'results/out.jsonl': results is a file, not a folder" in errors[0]


def test_plan_keeps_each_error_on_one_line_in_a_pipe(cli, tmp_path):
    spec = tmp_path / ("a-rather-long-file-name-so-the-error-line-is-wider-than-eighty-columns.yaml")
    spec.write_bytes(b"name: \xff\xfe\n")
    code, out, _ = cli("plan", spec)
    assert code == EXIT_INVALID
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].endswith("(save the file as UTF-8)")


# -- environment -----------------------------------------------------------------------------


def test_a_blank_project_variable_is_a_usage_error_not_the_local_stack(cli, no_stack, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", " ")
    code, _, errors = cli("run", STREAM_SPEC)
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: GOOGLE_CLOUD_PROJECT: empty project id")


def test_a_project_without_credentials_is_exit_3_with_the_fix(cli, monkeypatch, tmp_path):
    _no_adc(monkeypatch, tmp_path)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    code, _, errors = cli("run", STREAM_SPEC)
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith("error: GOOGLE_APPLICATION_CREDENTIALS: no Google credentials")
    assert "gcloud auth application-default login" in errors[0]


def test_credentials_that_cannot_reach_the_token_endpoint_are_exit_3_up_front(
    cli, monkeypatch, tmp_path, dead_url
):
    port = dead_url.rsplit(":", 1)[1]  # a loopback port with nothing listening
    _no_adc(monkeypatch, tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account(tmp_path, f"{dead_url}/token")))
    code, _, errors = cli("plan", STREAM_SPEC, "--project", "my-project")
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: GOOGLE_APPLICATION_CREDENTIALS: cannot reach Google to get an access token"
    )
    assert f"port={port}" in errors[0]  # it asked the key's own (loopback) endpoint


class _RevokedGrant(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_revoked_credentials_are_exit_3_with_the_login_fix(cli, monkeypatch, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _RevokedGrant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _no_adc(monkeypatch, tmp_path)
        token_uri = f"http://127.0.0.1:{server.server_address[1]}/token"
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account(tmp_path, token_uri)))
        code, _, errors = cli("list", "--project", "my-project")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: GOOGLE_APPLICATION_CREDENTIALS: Google credentials were refused: ('invalid_grant"
    )
    assert "gcloud auth application-default login" in errors[0]


def test_a_port_variable_that_is_not_a_number_is_a_usage_error(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_VERTEX_PORT", "abc")
    code, _, errors = cli("local", "up")
    assert code == EXIT_USAGE
    assert errors == [
        "error: CLAUDE_JOBS_LOCAL_VERTEX_PORT: not a port number: 'abc' "
        "(a number from 1 to 65535, or 0 for a free port)"
    ]


def test_a_busy_port_from_a_variable_names_the_variable(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "stack"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("CLAUDE_JOBS_LOCAL_VERTEX_PORT", str(busy.getsockname()[1]))
        code, _, errors = cli(
            "local", "up", "--storage-port", "0", "--bigquery-port", "0", "--bigquery-grpc-port", "0"
        )
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith("error: CLAUDE_JOBS_LOCAL_VERTEX_PORT: port ")
    assert "already in use" in errors[0]


def test_a_state_folder_below_a_file_is_exit_3_naming_the_variable(cli, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(blocker))
    monkeypatch.delenv("CLAUDE_JOBS_LOCAL_DIR", raising=False)
    code, _, errors = cli("run", STREAM_SPEC)
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith("error: CLAUDE_JOBS_HOME: cannot use ")
    assert "Not a directory" in errors[0]


def test_local_down_on_a_missing_state_folder_creates_nothing(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "never-created"))
    code, _, errors = cli("local", "down")
    assert (code, errors) == (0, [])
    assert not (tmp_path / "never-created").exists()


def test_a_bad_local_config_file_is_one_located_line(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(tmp_path / "stack"))
    config = tmp_path / "knobs.yaml"
    config.write_text("latency: [\n")
    code, _, errors = cli(
        "local",
        "up",
        "--config",
        config,
        "--vertex-port",
        "0",
        "--storage-port",
        "0",
        "--bigquery-port",
        "0",
        "--bigquery-grpc-port",
        "0",
    )
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {config}:2:1: cannot read the local server config")


# -- failures that escape from libraries and the OS ------------------------------------------


def test_a_state_folder_below_a_file_during_a_run_is_exit_3(cli, monkeypatch, tmp_path, local_stack):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(blocker))
    code, _, errors = cli("run", STREAM_SPEC, "--no-progress")
    assert code == EXIT_CONFIG
    assert len(errors) == 1
    assert errors[0].startswith("error: CLAUDE_JOBS_HOME: ")
    assert "Not a directory" in errors[0] and "CLAUDE_JOBS_HOME to a writable folder" in errors[0]


def test_an_os_error_outside_the_state_folder_is_located_at_its_path():
    error = translate(PermissionError(13, "Permission denied", "/data/out.jsonl"))
    assert error is not None and error.exit_code == EXIT_CONFIG
    assert str(error) == "/data/out.jsonl: Permission denied (check the permissions of the path)"


def test_a_google_api_error_is_a_remote_error():
    from google.api_core.exceptions import NotFound

    error = translate(NotFound("bucket gs://x does not exist"))
    assert error is not None and error.exit_code == EXIT_REMOTE
    assert str(error).startswith("Google Cloud refused the request: 404 bucket gs://x does not exist")


def test_an_unknown_exception_is_still_a_bug():
    assert translate(ValueError("boom")) is None


@pytest.mark.parametrize("command", ["status", "cancel"])
def test_a_ref_that_is_neither_a_spec_nor_a_job_is_refused_before_any_target(cli, no_stack, command):
    code, _, errors = cli(command, "a b c")
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith("error: SPEC|JOB: not a spec file or a batch job: 'a b c'")


def test_apply_prints_one_error_line_per_invalid_spec_and_nothing_more(cli, no_stack, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_bytes(b"name: \xff\n")
    code, _, errors = cli("apply", spec)
    assert code == EXIT_INVALID
    assert len(errors) == 1 and errors[0].startswith(f"error: {spec}:1:")


def test_a_folder_given_as_stack_outputs_is_one_located_line(cli, tmp_path):
    code, _, errors = cli("validate", STREAM_SPEC, "--stack-outputs", tmp_path)
    assert code == EXIT_CONFIG
    assert errors == [
        f"error: {tmp_path}: is a folder, not a stack outputs file "
        "(save them with `pulumi stack output --json > platform.json`)"
    ]


def test_ctrl_c_outside_a_run_loop_is_exit_130_with_the_resume_hint(cli, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("runner.spec.load_spec", interrupted)  # e.g. while the stack starts
    code, _, errors = cli("run", STREAM_SPEC)
    assert code == 130
    assert errors == ["error: interrupted; state is saved, re-run the same command to resume"]


def test_a_damaged_state_database_is_a_state_error_naming_the_state_folder(monkeypatch, tmp_path):
    import sqlite3

    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(tmp_path))
    damaged = tmp_path / "ledger.sqlite"
    damaged.write_bytes(b"\x00garbage, not SQLite" * 300)
    with pytest.raises(sqlite3.DatabaseError) as caught:
        sqlite3.connect(damaged).execute("select * from sqlite_master").fetchall()
    error = translate(caught.value)
    assert error is not None and error.exit_code == EXIT_INVALID
    assert str(error).startswith(
        f"CLAUDE_JOBS_HOME: a state database in {tmp_path} cannot be used: file is not a database"
    )


def test_a_reader_that_stops_early_is_not_a_failure(tmp_path):
    import os
    import subprocess
    import sys

    logs = tmp_path / "stack" / "logs"
    logs.mkdir(parents=True)
    (logs / "vertex.log").write_text("a log line long enough to fill the pipe quickly\n" * 50_000)
    env = {**os.environ, "CLAUDE_JOBS_LOCAL_DIR": str(tmp_path / "stack")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from runner.cli import main; main()",
            "local",
            "logs",
            "vertex",
            "-n",
            "50000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout.readline().startswith(b"==> ")
    process.stdout.close()  # like `| head -1`
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "error:" not in err and "Traceback" not in err


def test_local_status_on_a_stack_folder_below_a_file_names_the_variable(cli, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CLAUDE_JOBS_LOCAL_DIR", str(blocker))
    code, _, errors = cli("local", "status")
    assert code == EXIT_CONFIG
    assert errors == [
        f"error: CLAUDE_JOBS_LOCAL_DIR: cannot use {blocker} for the local stack: "
        "Not a directory (set CLAUDE_JOBS_LOCAL_DIR to a writable folder)"
    ]


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_plan_and_apply_refuse_a_region_a_spec_cannot_move_to(cli, no_stack, command):
    code, _, errors = cli(command, BATCH_SPEC, "--region", "global")
    assert code == EXIT_USAGE
    assert len(errors) == 1
    assert errors[0].startswith(
        f"error: --region: {BATCH_SPEC}: claude-haiku-4-5@20251001 does not run batch requests in global"
    )


def _csv_spec(repo: Path, csv_text: str) -> Path:
    (repo / "rows.csv").write_text(csv_text)
    spec = repo / "csv.yaml"
    spec.write_text(
        "name: csv\nmodel: claude-haiku-4-5@20251001\nmode: stream\n"
        "request: {max_tokens: 50}\ntemplate:\n  source: rows.csv\n"
        '  custom_id: "t-{{ id }}"\n  messages:\n    - role: user\n'
        '      content: "{{ body }}"\ndestination: out.jsonl\n'
    )
    return spec


def test_run_refuses_a_csv_with_a_repeated_column(cli, no_stack, repo):
    spec = _csv_spec(repo, "id,body,id\n1,a,2\n")
    code, _, errors = cli("run", spec)
    assert code == EXIT_INVALID
    assert errors == [
        f"error: {spec}:6:11: $.template.source: column 'id' appears more than once "
        "in the header of rows.csv (rename one of them: each column is one template "
        "variable)"
    ]


def test_run_refuses_a_csv_with_only_a_header(cli, no_stack, repo):
    spec = _csv_spec(repo, "id,body\n")
    code, _, errors = cli("run", spec)
    assert code == EXIT_INVALID
    assert errors == [
        f"error: {spec}:6:11: $.template.source: rows.csv has no rows (add rows below the header line)"
    ]


def test_an_unreachable_vertex_endpoint_is_a_remote_error():
    import anthropic
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1:9/v1/projects/p/locations/us-east5")
    error = translate(anthropic.APIConnectionError(request=request))
    assert error is not None and error.exit_code == EXIT_REMOTE
    assert str(error).startswith("cannot reach Vertex AI: Connection error")


def test_a_bug_raised_while_handling_an_os_error_is_still_a_bug():
    try:
        try:
            raise FileNotFoundError(2, "No such file or directory", "/x")
        except FileNotFoundError:
            {}["missing"]
    except KeyError as bug:
        assert translate(bug) is None


@pytest.mark.parametrize("args", [[], ["local"]])
def test_a_group_without_a_command_shows_its_help_not_an_error_line(cli, capsys, args):
    code = invoke(args)
    _out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err.startswith("Usage: claude-jobs") and "Commands:" in err
    assert "error:" not in err and "Traceback" not in err


@pytest.mark.parametrize("project", ["/tmp/elsewhere", "../../..", "a/b", "My-Project", "p"])
def test_a_project_that_is_not_a_project_id_is_refused_before_any_state_is_written(
    cli, no_stack, monkeypatch, tmp_path, project
):
    code, _, errors = cli("run", STREAM_SPEC, "--project", project)
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: --project: ")
    assert "is not a Google Cloud project id" in errors[0]
    assert not (tmp_path / "home").exists()
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    code, _, errors = cli("status", STREAM_SPEC)
    assert code == EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("error: GOOGLE_CLOUD_PROJECT: ")
