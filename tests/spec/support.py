"""Paths the spec tests share."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "tests" / "specs"
STACK_OUTPUTS = SPECS / "stack-outputs.json"
EXAMPLES = REPO / "jobs" / "examples"
