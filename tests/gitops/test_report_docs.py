"""The report's docs: the README shows the example screenshot kept in docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_example_reports_screenshot_from_docs():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", (ROOT / "README.md").read_text())
    assert "docs/report-example.png" in images
    assert (ROOT / "docs" / "report-example.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_demo_ends_by_writing_the_report_and_printing_its_path():
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "no demo target"
    last = recipe.group(1).strip().splitlines()[-1]
    assert "claude-jobs report $(DEMO_SPEC) --output $(DEMO_REPORT)" in last
