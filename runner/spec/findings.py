"""What validation finds: one located problem (`Finding`) and the report for one file (`FileReport`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from runner.errors import SpecError

if TYPE_CHECKING:
    from runner.spec.model import JobSpec

Severity = Literal["error", "warning"]
Path_ = tuple[str | int, ...]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def json_path(parts: Path_) -> str:
    """`("prompts", 3, "max_tokens")` -> `$.prompts[3].max_tokens`."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


@dataclass(frozen=True)
class Finding:
    """One problem at one place in a spec; `rule` names the check (stable, for --format json)."""

    line: int
    column: int
    path: Path_
    message: str
    rule: str
    hint: str | None = None
    severity: Severity = "error"

    @property
    def json_path(self) -> str:
        return json_path(self.path)

    def where(self, display: str) -> str:
        return f"{display}:{self.line}:{self.column}: {self.json_path}"

    def format(self, display: str) -> str:
        """`jobs/x.yaml:12:7: $.prompts[3].max_tokens: message (hint)`; warnings say so."""
        message = self.message if self.severity == "error" else f"warning: {self.message}"
        text = f"{self.where(display)}: {message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_error(self, display: str) -> SpecError:
        return SpecError(self.message, where=self.where(display), hint=self.hint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "path": self.json_path,
            "message": self.message,
            "hint": self.hint,
            "rule": self.rule,
            "severity": self.severity,
        }


@dataclass
class FileReport:
    """Everything validation found in one file; `spec` is set when the file is valid."""

    path: str  # as displayed: the path given on the command line
    findings: list[Finding] = field(default_factory=list)
    spec: JobSpec | None = None
    name_at: tuple[int, int] = (1, 1)  # where `name:` is written, for cross-file findings
    destination_at: tuple[int, int] = (1, 1)  # where `destination:` is written

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [f.format(self.path) for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "valid": self.ok,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }
