"""`claude-jobs report` on the local stack: batch and stream specs, several at once, and bad input."""

from __future__ import annotations

import re

import pytest
from gitops_repo import make_repo

BATCH = "batch-gcs-to-gcs.yaml"
STREAM = "stream-inline.yaml"
TYPED = "typed-triage-bq.yaml"


@pytest.fixture(scope="module")
def repo(tmp_path_factory, local_stack):
    """The batch example, the stream demo and the typed BigQuery triage, each run once."""
    repo = make_repo(tmp_path_factory.mktemp("report") / "repo", (BATCH, STREAM, TYPED))
    for example in (BATCH, STREAM, TYPED):
        done = repo.cli("run", f"jobs/examples/{example}", "--local", "--no-progress")
        assert done.code == 0, done.stderr
    return repo


def _tile(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found, element_id
    return found.group(1)


def test_a_batch_specs_page_lists_its_job_and_counts_what_results_prints(repo):
    done = repo.cli("report", f"jobs/examples/{BATCH}", "--local", "--output", "batch.html")
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == "report: batch.html"
    page = (repo.root / "batch.html").read_text()
    rows = repo.cli("results", f"jobs/examples/{BATCH}", "--local").stdout.splitlines()
    assert _tile(page, "count-total") == str(len(rows))
    assert _tile(page, "count-not-run") == "0"
    jobs = re.search(r'<table id="jobs">.*?</table>', page, re.S).group(0)
    assert "SUCCEEDED" in jobs and f"{len(rows)} succeeded" in jobs
    assert "console.cloud.google.com" not in page  # the local stack has no console to link to
    assert "(batch discount)" in page


def test_a_typed_specs_page_charts_each_answer_field_as_its_results_hold_them(repo):
    import json

    done = repo.cli("report", f"jobs/examples/{TYPED}", "--local", "--output", "typed.html")
    assert done.code == 0, done.stderr
    page = (repo.root / "typed.html").read_text()
    rows = [
        json.loads(line)
        for line in repo.cli("results", f"jobs/examples/{TYPED}", "--local").stdout.splitlines()
    ]
    answered = [r for r in rows if r["status"] == "succeeded"]
    assert answered
    for field in ("category", "priority", "summary", "tags", "customer_impact.blocked"):
        assert re.search(rf'<figure id="field-{re.escape(field)}" class="field">.*?<svg', page, re.S), field
    category = re.search(r'<figure id="field-category".*?</figure>', page, re.S).group(0)
    for value in ("billing", "bug", "how-to", "account"):
        count = sum(r["category"] == value for r in answered)
        assert re.search(rf"<title>{value}: {count} rows? \(", category), value
    blocked = re.search(r'<figure id="field-customer_impact.blocked".*?</figure>', page, re.S).group(0)
    count = sum(r["customer_impact"]["blocked"] is True for r in answered)
    assert re.search(rf"<title>true: {count} rows? \(", blocked)
    assert "<th>kept columns</th>" in page


def test_several_specs_get_a_page_each_and_an_index_linking_them(repo):
    done = repo.cli("report", "jobs/", "--local", "--output", "pages")
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == "report: pages/index.html"
    index = (repo.root / "pages" / "index.html").read_text()
    for example in (BATCH, STREAM, TYPED):
        name = repo.name(example)
        assert f'<a href="{name}.html">{name}</a>' in index
        assert (repo.root / "pages" / f"{name}.html").exists()


def test_a_spec_that_never_ran_gets_a_page_saying_so(repo):
    spec = repo.jobs / STREAM
    fresh = spec.with_name("never-ran.yaml")
    fresh.write_text(spec.read_text().replace(f"name: {repo.name(STREAM)}", "name: never-ran"))
    try:
        done = repo.cli("report", str(fresh), "--local", "--output", "never.html")
    finally:
        fresh.unlink()
    assert done.code == 0, done.stderr
    assert "never-ran: no results yet: run it first with `claude-jobs run" in done.stderr
    page = (repo.root / "never.html").read_text()
    assert _tile(page, "count-total") == "0" and _tile(page, "count-not-run") == "5"


def test_one_html_file_for_several_specs_is_a_usage_error_at_output(repo):
    done = repo.cli("report", "jobs/", "--local", "--output", "all.html")
    assert done.code == 2
    assert done.stderr.strip() == (
        "error: --output: 3 specs give one page each and an index, not one file "
        "(pass a folder, e.g. --output report/)"
    )


def test_an_invalid_spec_writes_no_report_and_says_where(repo, tmp_path):
    bad = repo.jobs / "bad.yaml"
    bad.write_text("name: Bad Name\n")
    try:
        done = repo.cli("report", str(bad), "--output", str(tmp_path / "bad.html"))
    finally:
        bad.unlink()
    assert done.code == 1
    assert re.search(r"^error: \S*bad\.yaml:1:\d+: ", done.stderr, re.M), done.stderr
    assert not (tmp_path / "bad.html").exists()


def test_an_unwritable_output_is_a_configuration_error_naming_it(repo):
    (repo.root / "blocker").write_text("a file, not a folder")
    done = repo.cli(
        "report", f"jobs/examples/{STREAM}", "--local", "--no-estimate", "--output", "blocker/r.html"
    )
    assert done.code == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: --output blocker/r.html: cannot write the report: File exists (pass a writable path)"
    ]
    assert "Traceback" not in done.stderr


def test_a_report_on_a_fresh_machine_reads_the_stream_ledger_from_the_shared_state(repo):
    import shutil
    import uuid

    state = f"gs://claude-jobs-local/report-tests/{uuid.uuid4().hex[:10]}"
    spec = repo.jobs / "shared.yaml"
    text = (repo.jobs / STREAM).read_text().replace(f"name: {repo.name(STREAM)}", "name: shared")
    spec.write_text(
        text.replace("destination: results/stream-inline.jsonl", "destination: results/shared.jsonl")
    )
    try:
        done = repo.cli("run", str(spec), "--local", "--no-progress", "--state", state)
        assert done.code == 0, done.stderr
        shutil.rmtree(repo.root / ".claude-jobs" / "stream")  # this machine's copies are gone
        done = repo.cli("report", str(spec), "--local", "--state", state, "--output", "shared.html")
    finally:
        spec.unlink()
    assert done.code == 0, done.stderr
    page = (repo.root / "shared.html").read_text()
    assert _tile(page, "count-total") == "5" and _tile(page, "count-succeeded") == "5"
