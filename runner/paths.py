"""Where claude-jobs keeps its files: packaged data, and the state folder of a working copy."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def schemas_dir() -> Path:
    """`schemas/`: inside an installed wheel it is `runner/schemas`, in a checkout the repo's folder."""
    packaged = PACKAGE_DIR / "schemas"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / "schemas"


def state_dir() -> Path:
    """The one folder for local state: stream ledgers, the local stack. `CLAUDE_JOBS_HOME` overrides."""
    env = os.environ.get("CLAUDE_JOBS_HOME")
    return Path(env).expanduser().resolve() if env else (Path.cwd() / ".claude-jobs").resolve()


def shown(path: str | Path) -> str:
    """`path` as a user can open it from the working folder: relative inside it, else absolute.

    Spec files name inputs relative to the spec's own folder; messages must not, since the
    user reads them in a shell whose working folder is usually elsewhere.
    """
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(resolved)
