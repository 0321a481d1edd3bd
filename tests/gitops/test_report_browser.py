"""`claude-jobs report` pages, opened in a real headless Chromium: what a person sees is there,
and the page asks the network for nothing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from browser import visit
from test_report_stats import SCHEMA, error_row, typed_row

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40
FLAKY = {
    "use_catalog_quotas": False,
    "quotas": {},
    "time_to_first_token": 0.002,
    "tokens_per_second": 20000.0,
    "faults": {"seed": 7, "rates": {"server_error": 0.4}},
}


@pytest.fixture
def flaky_stack(local_stack, vertex_configured):
    """The session stack's Vertex server failing 40% of calls with a 500; its config restored after."""
    with vertex_configured(FLAKY):
        yield local_stack


OUTPUT = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "how-to", "account"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
    },
    "required": ["category", "priority", "urgent", "summary"],
    "additionalProperties": False,
}


def _write_spec(folder: Path) -> Path:
    """A typed triage over a JSONL file: 40 tickets, one retry per row, the quotas lifted."""
    with open(folder / "tickets.jsonl", "w") as f:
        for i in range(ROWS):
            f.write(json.dumps({"id": f"ticket-{i:03d}", "body": f"ticket number {i}"}) + "\n")
    spec = folder / "triage.yaml"
    spec.write_text(
        "name: report-browser\n"
        "model: claude-haiku-4-5@20251001\n"
        "mode: stream\n"
        "request: {max_tokens: 200}\n"
        "template:\n"
        "  source: tickets.jsonl\n"
        "  custom_id_column: id\n"
        "  messages: [{role: user, content: '{{ body }}'}]\n"
        "destination: results/triage.jsonl\n"
        # Quotas lifted: the limiter is not under test (the catalog's 120 RPM paced this run to 30 s).
        "stream: {concurrency: 4, max_retries: 1, requests_per_minute: 600000,\n"
        "  input_tokens_per_minute: 1000000000, output_tokens_per_minute: 1000000000}\n"
        f"output:\n  schema: {json.dumps(OUTPUT)}\n  keep: [body]\n"
    )
    return spec


def _cli(folder: Path, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from runner.cli import invoke

    monkeypatch.chdir(folder)
    monkeypatch.setenv("CLAUDE_JOBS_HOME", str(folder / "state"))
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    code = invoke([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _text(dom: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert found, f"#{element_id} not in the rendered page"
    return found.group(1).strip()


def test_a_stream_runs_report_shows_its_counts_cost_and_charts_in_chromium_offline(
    tmp_path, flaky_stack, monkeypatch, capsys
):
    spec = _write_spec(tmp_path)
    code, _, err = _cli(tmp_path, monkeypatch, capsys, "run", spec, "--no-progress")
    assert code in (0, 5), err
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "results", spec)
    rows = [json.loads(line) for line in out.splitlines()]
    errored = sum(r["status"] == "errored" for r in rows)
    assert len(rows) == ROWS and 0 < errored < ROWS  # both kinds of row, so both show

    code, out, err = _cli(tmp_path, monkeypatch, capsys, "report", spec, "--output", "out/triage.html")
    assert code == 0, err
    page = tmp_path / "out" / "triage.html"
    assert out.strip() == "report: out/triage.html"

    if os.environ.get("CLAUDE_JOBS_REPORT_SCREENSHOT"):  # how docs/report-example.png is made
        visit(page, screenshot=Path(os.environ["CLAUDE_JOBS_REPORT_SCREENSHOT"]), size=(1000, 3400))
    seen = visit(page)
    assert seen.requests == []  # nothing fetched: no CDN, no font, no beacon
    assert "Content Security Policy" not in seen.console  # the inline style and script were allowed
    dom = seen.dom
    assert _text(dom, "spec-name") == "report-browser"
    assert _text(dom, "count-total") == str(ROWS)
    assert _text(dom, "count-succeeded") == str(ROWS - errored)
    assert _text(dom, "count-errored") == str(errored)
    assert _text(dom, "count-not-run") == "0"
    assert _text(dom, "cost-actual").startswith("$")
    assert _text(dom, "cost-plan").startswith("$")
    input_tokens = sum(r["usage"].get("input_tokens", 0) for r in rows)
    assert _text(dom, "input-tokens") == f"{input_tokens:,}"
    for chart in ("chart-status", "chart-cost", "chart-latency", "chart-attempts", "chart-output-tokens"):
        assert re.search(rf'<figure id="{chart}"><svg class="chart" role="img"', dom), chart
    kinds: dict[str, int] = {}
    for row in rows:
        if row["error"]:
            kind = row["error"].get("type") or row["error"].get("code")
            kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in kinds.items():  # errors grouped by type, with their counts
        assert re.search(rf'<td><code>{kind}</code></td><td class="num">{count}</td>', dom), kind
    # The script ran (the page's CSP allows it by hash): it counted the sample rows it can filter.
    assert _text(dom, "sample-shown") == f"showing {ROWS} of {ROWS} sample rows"
    first = re.search(r'<tr class="(\w+)" data-status', dom)
    assert first and first.group(1) == "errored"  # errored rows first
    assert re.search(r'<td class="mono">body=ticket number \d+</td>', dom)  # kept columns in sample rows
    # The typed answers: one chart per field, the enum's bars counting what the rows say.
    answers = [r for r in rows if r["status"] == "succeeded"]  # typed fields are top-level columns
    for name in OUTPUT["properties"]:
        assert re.search(rf'<figure id="field-{name}" class="field">.*?<svg class="chart"', dom, re.S), name
    category = re.search(r'<figure id="field-category".*?</figure>', dom, re.S).group(0)
    for value in OUTPUT["properties"]["category"]["enum"]:
        count = sum(a["category"] == value for a in answers)
        assert re.search(rf"<title>{value}: {count} rows? \(", category), value


def test_the_no_request_check_catches_a_page_that_fetches(tmp_path):
    page = tmp_path / "fetches.html"
    page.write_text('<!doctype html><p>x</p><img src="http://127.0.0.1:9/pixel.png">')
    assert visit(page).requests == ["http://127.0.0.1:9/pixel.png"]


def test_the_csp_check_catches_an_inline_style_the_policy_blocks(tmp_path):
    page = tmp_path / "blocked.html"
    page.write_text(
        '<!doctype html><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'sha256-AAAA'\"><style>p{color:red}</style><p>x</p>"
    )
    assert "Content Security Policy" in visit(page).console


def test_typed_answers_get_a_chart_per_field_and_the_filter_works_in_chromium(tmp_path):
    from runner.gitops.report import SpecReport
    from runner.gitops.report_page import render_page
    from runner.gitops.report_stats import ReportStats
    from runner.spec import load_spec

    rows = [typed_row(i) for i in range(300)] + [error_row(i) for i in range(7)]
    spec = load_spec(ROOT / "jobs" / "examples" / "stream-inline.yaml")
    report = SpecReport(spec=spec, target="test", stats=ReportStats(SCHEMA).add_all(rows))
    page = tmp_path / "typed.html"
    page.write_text(render_page(report))

    seen = visit(page)
    assert seen.requests == []
    dom = seen.dom
    for name, kind in (
        ("category", "enum"),
        ("urgent", "boolean"),
        ("priority", "number"),
        ("summary", "string"),
    ):
        figure = re.search(rf'<figure id="field-{name}" class="field">(.*?)</figure>', dom, re.S)
        assert figure, name
        assert f'<span class="muted">{kind}</span>' in figure.group(1)
        assert '<svg class="chart" role="img"' in figure.group(1), name
    billing = re.search(r'<figure id="field-category".*?</figure>', dom, re.S).group(0)
    assert "75 rows (25.0%)" in billing  # 300 answers, a quarter of them billing
    assert "not charted" in re.search(r'<figure id="field-free".*?</figure>', dom, re.S).group(0)
    nested = re.search(r'<figure id="field-details.blocked".*?</figure>', dom, re.S).group(0)
    assert '<svg class="chart" role="img"' in nested  # an object's fields get charts of their own


@pytest.mark.parametrize(("dark", "background"), [(False, "light"), (True, "dark")])
def test_the_page_follows_the_light_or_dark_colour_scheme(tmp_path, dark, background):
    from runner.gitops.report import SpecReport
    from runner.gitops.report_page import render_page
    from runner.gitops.report_stats import ReportStats
    from runner.spec import load_spec

    spec = load_spec(ROOT / "jobs" / "examples" / "stream-inline.yaml")
    page = tmp_path / "page.html"
    page.write_text(
        render_page(SpecReport(spec=spec, target="test", stats=ReportStats().add_all([typed_row(1)])))
    )
    shot = tmp_path / "page.png"
    visit(page, screenshot=shot, dark=dark, size=(800, 600))
    red, green, blue = first_pixel(shot)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    assert (luminance > 200) if background == "light" else (luminance < 50), (red, green, blue)


def first_pixel(png: Path) -> tuple[int, int, int]:
    """The top-left pixel of a PNG (8-bit RGB or RGBA); any row filter leaves it as stored."""
    import struct
    import zlib

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, colour_type = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            assert body[8] == 8, "8-bit samples"
            colour_type = body[9]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert colour_type in (2, 6)
    raw = zlib.decompressobj().decompress(idat, 16)
    return raw[1], raw[2], raw[3]
