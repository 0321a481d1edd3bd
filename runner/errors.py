"""The one exception tree of claude-jobs; only the CLI turns these into messages and exit codes.

Exit codes (documented in the README and `claude-jobs --help`):

    0  success
    1  invalid spec or input (validate found errors; run refused a spec)
    2  usage error (bad flag, missing argument, bad environment variable)
    3  target or configuration error (no credentials, local stack cannot start)
    4  remote error (Vertex AI, Cloud Storage or BigQuery refused or failed)
    5  the job finished but some rows failed, or a batch job ended unsuccessfully
    6  plan found changes (only with `plan --detailed-exitcode`)
    130 interrupted (Ctrl-C); nothing is lost, re-run to resume
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_REMOTE = 4
EXIT_JOB_FAILED = 5
EXIT_CHANGES = 6
EXIT_INTERRUPTED = 130


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

    def __init__(self, message: str, *, status: int | None = None, where: str | None = None,
                 hint: str | None = None):
        super().__init__(message, where=where, hint=hint)
        self.status = status


class StateError(ClaudeJobsError):
    """The stored run state (ledger, job labels) conflicts with the spec, e.g. a changed spec."""

    exit_code = EXIT_INVALID


class JobFailed(ClaudeJobsError):
    """The run ended but rows failed or the batch job ended unsuccessfully; results are kept."""

    exit_code = EXIT_JOB_FAILED


class Interrupted(ClaudeJobsError):
    """The user interrupted the run; state is saved and a re-run resumes."""

    exit_code = EXIT_INTERRUPTED
