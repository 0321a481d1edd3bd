"""Where claude-jobs keeps its files: packaged data, and the state folder of a working copy."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Google's rule for a project id: 6-30 lowercase letters, digits and hyphens, starting with a
# letter and not ending with a hyphen. Ledgers live in a folder named after the project, so
# the rule also keeps them inside the state folder.
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


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


# State holds prompts and answers: only its owner may read it.
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def private_folder(path: Path) -> Path:
    """`mkdir -p path`, creating each missing folder 0700 (`Path.mkdir(parents=True)` would not)."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
    return path


def create_private(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists (SQLite's -wal/-shm files copy its mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))


def write_private(path: Path, data: bytes | str) -> None:
    """Replace `path` atomically by a 0600 file holding `data` (a reader never sees half a file)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
