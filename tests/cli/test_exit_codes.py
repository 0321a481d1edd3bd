"""One exit-code table (`runner.errors.EXIT_CODES`): --help, README.md and docs/errors.md show it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import runner.errors
from runner.cli import invoke
from runner.errors import EXIT_CODES

REPO = Path(__file__).resolve().parents[2]


def _markdown_table(path: Path) -> dict[int, str]:
    """code -> meaning of the first table under a heading `Exit codes` in a markdown file."""
    text = path.read_text(encoding="utf-8")
    section = text[re.search(r"^#+ Exit codes$", text, re.M).end() :]
    rows: dict[int, str] = {}
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = cells[1]
    return rows


def test_every_exit_code_constant_is_in_the_table():
    constants = {
        value
        for name, value in vars(runner.errors).items()
        if name.startswith("EXIT_") and name != "EXIT_CODES"
    }
    assert constants == set(EXIT_CODES)


@pytest.mark.parametrize("doc", ["README.md", "docs/errors.md"])
def test_the_documented_exit_code_table_is_the_one_in_errors_py(doc):
    assert _markdown_table(REPO / doc) == EXIT_CODES


def test_help_ends_with_every_exit_code_and_its_meaning(capsys):
    assert invoke(["--help"]) == 0
    out = capsys.readouterr().out
    shown = out[out.index("Exit codes:") :]
    lines = [" ".join(line.split()) for line in shown.splitlines()[1:] if line.strip()]
    assert lines == [f"{code} {meaning.replace('`', '')}" for code, meaning in EXIT_CODES.items()]
