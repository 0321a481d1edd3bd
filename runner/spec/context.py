"""What every semantic check receives: the loaded document, where the spec lives, and a findings list."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from runner.spec.findings import Finding, Path_
from runner.spec.yamlload import LoadedYaml

DEFAULT_REGION = "us-east5"


def repo_root_for(folder: Path) -> Path:
    """The nearest folder holding `.git`, else the current folder: spec paths must stay inside it."""
    return _git_root(folder) or Path.cwd().resolve()


@cache
def _git_root(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


@dataclass
class Context:
    loaded: LoadedYaml
    spec_path: Path  # absolute
    stack: Any = None  # StackOutputs or None
    findings: list[Finding] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)  # results several checks share (a first row)

    @property
    def data(self) -> dict[str, Any]:
        return self.loaded.data if isinstance(self.loaded.data, dict) else {}

    @property
    def base_dir(self) -> Path:
        return self.spec_path.parent

    @property
    def repo_root(self) -> Path:
        return repo_root_for(self.base_dir)

    @property
    def mode(self) -> str | None:
        mode = self.data.get("mode")
        return mode if mode in ("batch", "stream") else None

    @property
    def region(self) -> str:
        region = self.data.get("region", DEFAULT_REGION)
        return region if isinstance(region, str) else DEFAULT_REGION

    def get(self, *path: str | int) -> Any:
        """The value at `path`, or None when any step is missing or of the wrong type."""
        node: Any = self.loaded.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    return None
            elif not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def error(
        self, path: Path_, message: str, rule: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self.findings.append(Finding(*self.loaded.mark(path, key=key), tuple(path), message, rule, hint))

    def warn(self, path: Path_, message: str, rule: str, hint: str | None = None) -> None:
        self.findings.append(
            Finding(*self.loaded.mark(path), tuple(path), message, rule, hint, severity="warning")
        )
