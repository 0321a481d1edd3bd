"""Local paths are relative to the spec's folder and must stay inside the repository."""

from __future__ import annotations

from runner.spec.check import check_file

SPEC = """\
name: t
model: claude-haiku-4-5@20251001
mode: stream
prepared: {prepared}
destination: {destination}
"""
LINE = '{"custom_id": "a", "request": {"messages": [{"role": "user", "content": "hi"}]}}\n'


def rules(path) -> list[str]:
    return [f.rule for f in check_file(path).errors]


def test_paths_are_relative_to_the_spec_folder(spec_file):
    (spec_file.root / "jobs" / "data").mkdir(parents=True)
    (spec_file.root / "jobs" / "data" / "p.jsonl").write_text(LINE)
    spec = spec_file(
        SPEC.format(prepared="data/p.jsonl", destination="../results/t.jsonl"), name="jobs/spec.yaml"
    )
    assert rules(spec) == []


def test_the_repository_is_the_nearest_folder_with_git(spec_file):
    (spec_file.root / "inner" / ".git").mkdir(parents=True)
    (spec_file.root / "p.jsonl").write_text(LINE)
    spec = spec_file(SPEC.format(prepared="../p.jsonl", destination="t.jsonl"), name="inner/spec.yaml")
    assert rules(spec) == ["files.outside-repo"]


def test_without_git_the_current_folder_is_the_repository(tmp_path, monkeypatch):
    (tmp_path / "p.jsonl").write_text(LINE)
    (tmp_path / "sub").mkdir()
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(prepared="p.jsonl", destination="t.jsonl"))
    monkeypatch.chdir(tmp_path)
    assert rules(spec) == []
    monkeypatch.chdir(tmp_path / "sub")
    assert rules(spec) == ["files.outside-repo", "files.outside-repo"]


def test_a_symlink_out_of_the_repository_is_outside(spec_file, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "p.jsonl").write_text(LINE)
    (spec_file.root / "link.jsonl").symlink_to(elsewhere / "p.jsonl")
    assert rules(spec_file(SPEC.format(prepared="link.jsonl", destination="t.jsonl"))) == [
        "files.outside-repo"
    ]


SECRET = "db-password-hunter2-SUPERSECRET-value"


def test_a_spec_that_links_out_of_the_repository_is_refused_unread(spec_file, tmp_path_factory, run_cli_in):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text(SECRET + "\n")
    (spec_file.root / "jobs").mkdir()
    (spec_file.root / "jobs" / "x.yaml").symlink_to(outside)
    for args in (["validate", "jobs"], ["plan", "--format", "markdown", "jobs/x.yaml"]):
        code, out, err = run_cli_in(*args)
        assert code == 1, (args, out, err)
        assert SECRET not in out + err
        assert "jobs/x.yaml:1:1: $: the spec file is a symlink to a file outside the repository" in out + err


def test_a_spec_linking_inside_the_repository_is_read(spec_file):
    (spec_file.root / "p.jsonl").write_text(LINE)
    target = spec_file(SPEC.format(prepared="p.jsonl", destination="t.jsonl"), name="real/spec.yaml")
    (spec_file.root / "link.yaml").symlink_to(target)
    assert rules(spec_file.root / "link.yaml") == []


def test_a_scalar_document_is_not_echoed(spec_file):
    report = check_file(spec_file(SECRET + "\n"))
    assert [f.rule for f in report.errors] == ["schema.type"]
    assert SECRET not in report.errors[0].message
