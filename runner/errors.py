"""The one exception tree of claude-jobs; only the CLI turns these into messages and exit codes.

`EXIT_CODES` is the one table of exit codes: `claude-jobs --help` prints it, and
tests/cli/test_exit_codes.py keeps the tables of README.md and docs/errors.md equal to it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_REMOTE = 4
EXIT_JOB_FAILED = 5
EXIT_CHANGES = 6
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# code -> meaning, as --help, README.md and docs/errors.md show it (`backticks` mark commands).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_INVALID: "invalid spec or input",
    EXIT_USAGE: "usage error (flag, argument, environment variable)",
    EXIT_CONFIG: "target or configuration error (credentials, local stack, stack outputs)",
    EXIT_REMOTE: "remote error (Vertex AI, Cloud Storage, BigQuery)",
    EXIT_JOB_FAILED: "rows failed or a batch job ended unsuccessfully (results kept)",
    EXIT_CHANGES: "plan found changes (`plan --detailed-exitcode`)",
    EXIT_INTERNAL: "internal error (a bug: please report it; `CLAUDE_JOBS_DEBUG=1` shows the traceback)",
    EXIT_INTERRUPTED: "interrupted; state is saved, re-run to resume",
}


class ClaudeJobsError(Exception):
    """Root of every error the tool raises on purpose.

    `where` is a location a user can act on (``jobs/x.yaml:12:7``, ``$.path``,
    ``--flag``, ``ENV_VAR``); `hint` says how to fix it. `str()` is the one-line
    message the CLI prints.
    """

    exit_code = EXIT_INVALID

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class SpecError(ClaudeJobsError):
    """A job spec (or an input it names) is invalid."""

    exit_code = EXIT_INVALID


class SpecErrors(SpecError):
    """Several spec errors at once, each one line; validate reports them all."""

    def __init__(self, errors: list[SpecError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors) or "invalid spec")

    def __str__(self) -> str:
        return self.message


class UsageError(ClaudeJobsError):
    """A flag, argument or environment variable is wrong."""

    exit_code = EXIT_USAGE


class ConfigError(ClaudeJobsError):
    """The target cannot be used: missing project or credentials, stack outputs unreadable."""

    exit_code = EXIT_CONFIG


class StackError(ConfigError):
    """The local stack cannot start, is not ready, or is in an inconsistent state."""


class RemoteError(ClaudeJobsError):
    """Vertex AI, Cloud Storage or BigQuery answered with an error we cannot retry past."""

    exit_code = EXIT_REMOTE

    def __init__(
        self, message: str, *, status: int | None = None, where: str | None = None, hint: str | None = None
    ):
        super().__init__(message, where=where, hint=hint)
        self.status = status


class StateError(ClaudeJobsError):
    """The stored run state (ledger, job labels) conflicts with the spec, e.g. a changed spec."""

    exit_code = EXIT_INVALID


class Interrupted(ClaudeJobsError):
    """The user interrupted the run; state is saved and a re-run resumes."""

    exit_code = EXIT_INTERRUPTED


# -- foreign exceptions -------------------------------------------------------------------------

_CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, use Workload Identity Federation "
    "in CI, or drop --project/GOOGLE_CLOUD_PROJECT to use the local stack"
)


def translate(exc: BaseException) -> ClaudeJobsError | None:
    """The ClaudeJobsError a library or OS exception means for a user, or None if it is a bug.

    The one place where google-auth, google-api-core, anthropic, httpx and OSError failures
    that escaped the modules become located one-line errors. It matches with `isinstance`
    against each library's own exception classes, taken from `sys.modules` only when the
    library is already loaded (one that is not loaded cannot have raised anything), so it
    imports nothing and costs nothing for a library the run never used. Explicit causes (`raise X from exc`) are followed, so a wrapper is understood by what it
    wraps; the implicit context is not, so a bug inside an `except OSError:` stays a bug.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _translate_one(current)
        if found is not None:
            return found
        current = current.__cause__
    return None


def in_context(
    exc: BaseException, doing: str, *, where: str | None = None, hint: str | None = None
) -> ClaudeJobsError | None:
    """`translate(exc)`, a RemoteError then saying what was being done (`cannot read gs://b/o:
    Google Cloud refused the request: 404 …`), located at `where`, with `hint` if given; other
    errors (credentials) as translate gives them; None for a bug."""
    known = translate(exc)
    if isinstance(known, RemoteError):
        return RemoteError(
            f"{doing}: {known.message}", status=known.status, where=where, hint=hint or known.hint
        )
    return known


@contextmanager
def remote_failures(doing: str, *, where: str | None = None, hint: str | None = None) -> Iterator[None]:
    """Foreign failures inside the block become `in_context(exc, doing, where=, hint=)`; our own
    errors and bugs (what translate does not know) propagate as they are."""
    try:
        yield
    except ClaudeJobsError:
        raise
    except Exception as exc:
        known = in_context(exc, doing, where=where, hint=hint)
        if known is None:
            raise
        raise known from None


def call_failed(exc: BaseException) -> bool:
    """Whether `exc` is a failure of a Google client's call itself (a refusal, the network, the
    token refresh), as opposed to a bug: what a poll may wait through."""
    return _is(exc, _GOOGLE_API, _GOOGLE_AUTH, *_NETWORK, ("urllib3.exceptions", "HTTPError"))


# (module, class) of the foreign exceptions translate understands; see _loaded().
_GOOGLE_AUTH = ("google.auth.exceptions", "GoogleAuthError")
_GOOGLE_AUTH_UNREACHABLE = (
    ("google.auth.exceptions", "TransportError"),
    ("google.auth.exceptions", "TimeoutError"),
)
_GOOGLE_API = ("google.api_core.exceptions", "GoogleAPIError")
_ANTHROPIC_API = ("anthropic", "APIError")
_NETWORK = (
    ("httpx", "TransportError"),  # timeouts, connection and protocol failures
    ("httpcore", "TimeoutException"),
    ("aiohttp", "ClientError"),
    ("requests.exceptions", "ConnectionError"),
)
_SQLITE = ("sqlite3", "DatabaseError")


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """The exception class `module.name` when that module is already imported, else None."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(exc: BaseException, *classes: tuple[str, str]) -> bool:
    return any(isinstance(exc, cls) for cls in (_loaded(*c) for c in classes) if cls is not None)


def _translate_one(exc: BaseException) -> ClaudeJobsError | None:
    if _is(exc, _GOOGLE_AUTH):
        return _google_auth(exc)
    if _is(exc, _GOOGLE_API):
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) else None
        return RemoteError(
            f"Google Cloud refused the request: {_first_line(exc)}", status=status, hint=_status_hint(status)
        )
    if _is(exc, _ANTHROPIC_API):
        status = getattr(exc, "status_code", None)
        if status is None:
            return RemoteError(
                f"cannot reach Vertex AI: {_first_line(exc)}",
                hint="check the network and the region; re-run to resume",
            )
        return RemoteError(
            f"Vertex AI answered {status}: {_first_line(exc)}", status=status, hint=_status_hint(status)
        )
    if _is(exc, *_NETWORK):
        return RemoteError(
            f"network error: {_first_line(exc)}",
            hint="check the network (and that the local stack is up); re-run to resume",
        )
    if _is(exc, _SQLITE):
        return _state_database(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    return None


_SQLITE_FULL = 13


def _state_database(exc: BaseException) -> ClaudeJobsError:
    """Only local state (stream ledgers) lives in SQLite: a damaged or unopenable database."""
    from runner.paths import state_dir

    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc):
        # The ledger is intact: moving it away would re-send (and re-pay) every row it holds.
        return ConfigError(
            f"no space left on device for the state folder {state_dir()}",
            where="CLAUDE_JOBS_HOME" if _home_from_env() else str(state_dir()),
            hint="free some disk space (or set CLAUDE_JOBS_HOME to a bigger disk), then re-run to resume",
        )
    return StateError(
        f"a state database in {state_dir()} cannot be used: {_first_line(exc)}",
        where="CLAUDE_JOBS_HOME" if _home_from_env() else str(state_dir()),
        hint="move the damaged stream/<spec>/ledger.sqlite away; the next run then starts that spec over",
    )


def _google_auth(exc: BaseException) -> ConfigError:
    if isinstance(exc, TimeoutError) or _is(exc, *_GOOGLE_AUTH_UNREACHABLE):
        return ConfigError(
            f"cannot reach Google to get an access token: {_first_line(exc)}",
            where="GOOGLE_APPLICATION_CREDENTIALS",
            hint="check the network or proxy, or drop --project/GOOGLE_CLOUD_PROJECT to use the local stack",
        )
    return ConfigError(
        f"Google credentials were refused: {_first_line(exc)}",
        where="GOOGLE_APPLICATION_CREDENTIALS",
        hint=_CREDENTIALS_HINT,
    )


def _status_hint(status: int | None) -> str | None:
    return {
        401: _CREDENTIALS_HINT,
        403: "grant the caller the needed role (e.g. roles/aiplatform.user) or enable the API",
        404: "check the project, region, model and resource names",
        429: "quota exhausted: lower concurrency or ask for more quota; re-run to resume",
    }.get(status or 0, "re-run to resume; finished work is kept" if status and status >= 500 else None)


def _os_error(exc: OSError) -> ClaudeJobsError:
    import errno

    filename = exc.filename if isinstance(exc.filename, str) else None
    reason = exc.strerror or _first_line(exc)
    if filename is None:
        if isinstance(exc, ConnectionError | TimeoutError):
            return RemoteError(f"network error: {reason}", hint="check the network; re-run to resume")
        return ConfigError(f"operating system error: {reason}")
    hints = {
        errno.EACCES: "check the permissions of the path",
        errno.EPERM: "check the permissions of the path",
        errno.EROFS: "the file system is read-only: pick a writable location",
        errno.ENOSPC: "free some disk space, then re-run to resume",
        errno.EISDIR: "it is a folder: name a file",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOENT: "create the folder or fix the path",
        errno.EEXIST: "a file is in the way where a folder is needed",
    }
    hint = hints.get(exc.errno or 0)
    if _in_state_dir(filename):
        # The state folder is configuration: name the variable that moves it.
        return ConfigError(
            f"{reason}: {filename}",
            where="CLAUDE_JOBS_HOME",
            hint=f"{hint + '; ' if hint else ''}set CLAUDE_JOBS_HOME to a writable folder",
        )
    return ConfigError(reason, where=filename, hint=hint)


def _in_state_dir(filename: str) -> bool:
    from pathlib import Path

    from runner.paths import state_dir

    try:
        home, path = state_dir(), Path(filename).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return path.is_relative_to(home) or home.is_relative_to(path)


def _home_from_env() -> bool:
    import os

    return bool(os.environ.get("CLAUDE_JOBS_HOME"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
