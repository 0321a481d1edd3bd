"""The `claude-jobs` command group: parses, builds, executes; turns errors into exit codes.

Subcommands live in their own modules and are imported only when invoked, so
`claude-jobs validate` never pays for the cloud clients.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from runner.errors import (
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ClaudeJobsError,
    SpecErrors,
    translate,
)

# name -> "module:function" (relative to this package)
COMMANDS: dict[str, str] = {
    "validate": "validate_cmd:validate",
    "plan": "plan_cmd:plan",
    "apply": "plan_cmd:apply",
    "run": "run_cmd:run",
    "status": "jobs_cmd:status",
    "results": "jobs_cmd:results",
    "report": "report_cmd:report",
    "cancel": "jobs_cmd:cancel",
    "list": "jobs_cmd:list_jobs",
    "unlock": "state_cmd:unlock",
    "state": "state_cmd:state",
    "local": "local_cmd:local",
}

INTERRUPTED = "interrupted; state is saved, re-run the same command to resume"


def _exit_codes_epilog() -> str:
    """The exit-code table of runner/errors.py, as `claude-jobs --help` ends."""
    width = len(str(max(EXIT_CODES)))
    rows = "".join(f"  {code:<{width}} {meaning.replace('`', '')}\n" for code, meaning in EXIT_CODES.items())
    return "\b\nExit codes:\n" + rows


EPILOG = _exit_codes_epilog()


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module_name, attr = spec.split(":")
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                return None
            raise
        return getattr(module, attr)

    @staticmethod
    def _available(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(f"{__name__}.{module_name}") is not None


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="claude-jobs", prog_name="claude-jobs")
def cli():
    """Declarative Claude jobs on Google Vertex AI: validate, plan, run, status, results, report, cancel.

    With no GCP project configured (--project or GOOGLE_CLOUD_PROJECT), jobs run
    on the local stack: Cloud Storage and BigQuery emulators plus a local Vertex
    AI server with a simulated Claude.
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(invoke(argv))


def invoke(argv: list[str] | None = None) -> int:
    """Run the group and map every failure to one line on stderr and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="claude-jobs", standalone_mode=False)
    except SpecErrors as exc:
        for error in exc.errors:  # several problems: one `error:` line each
            _print_error(str(error))
        code = exc.exit_code
    except ClaudeJobsError as exc:
        _print_error(str(exc))
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:  # click's form of Ctrl-C outside a command's own handler
        _print_error(INTERRUPTED)
        code = EXIT_INTERRUPTED
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `claude-jobs` alone: show the help
            exc.show()
        else:
            _print_error(_usage_line(exc))
        code = EXIT_USAGE
    except click.ClickException as exc:
        _print_error(exc.format_message())
        code = exc.exit_code if exc.exit_code else EXIT_USAGE
    except KeyboardInterrupt:
        _print_error(INTERRUPTED)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = 0
    except SystemExit as exc:
        # With standalone_mode=False click still exits by itself in one case: stdout's reader
        # went away (`claude-jobs results X | head`), after wrapping the streams. Like a closed
        # pipe above, that is success, not a silent exit 1.
        code = (
            0
            if type(sys.stdout).__name__ == "_PacifyFlushWrapper"
            else (exc.code if isinstance(exc.code, int) else EXIT_USAGE)
        )
    except Exception as exc:  # a library or OS failure that escaped, or a bug
        if os.environ.get("CLAUDE_JOBS_DEBUG"):
            raise
        known = translate(exc)
        if known is not None:
            _print_error(str(known))
            return known.exit_code
        _print_error(
            f"internal error: {type(exc).__name__}: {exc} "
            "(a bug in claude-jobs; re-run with CLAUDE_JOBS_DEBUG=1 for a traceback and report it)"
        )
        code = EXIT_INTERNAL
    else:
        code = result if isinstance(result, int) else 0
    return code


def _usage_line(exc: click.UsageError) -> str:
    """Click's four-line usage error as one line: where (the flag or argument), what, how to fix."""
    where = None
    param = getattr(exc, "param", None)
    if param is not None:
        where = "/".join(param.opts) if isinstance(param, click.Option) else (param.human_readable_name)
    message = exc.format_message().rstrip(".")
    # BadParameter repeats the parameter: "Invalid value for '--format': 'xml' is not one of ..."
    if where and message.startswith("Invalid value"):
        message = message.split(": ", 1)[-1]
    elif where and message.startswith("Missing"):
        where = None
    command = exc.ctx.command_path if exc.ctx is not None else "claude-jobs"
    text = f"{where}: {message}" if where else message
    return f"{text} (see `{command} --help`)"


def _print_error(line: str) -> None:
    """One problem, one line: a library's multi-line message is folded onto it."""
    click.echo("error: " + " ".join(part.strip() for part in line.splitlines() if part.strip()), err=True)
