"""`claude-jobs validate`: only the spec package is imported here, never a cloud client."""

from __future__ import annotations

import click

from runner.cli._common import format_option, platform, stack_outputs_option
from runner.errors import EXIT_INVALID, EXIT_OK


@click.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=str))
@format_option("text", "json", help="text: one line per problem; json: one document for pipelines.")
@stack_outputs_option
def validate(paths, output_format, stack_outputs):
    """Check job specs: YAML, schema, model catalog, regions, files and templates.

    PATH is a spec file or a folder (every *.yaml / *.yml below it); the default
    is jobs/. Every problem of every file is printed as
    `FILE:LINE:COLUMN: $.json.path: message (hint)`. Warnings (e.g. a deprecated
    model) do not fail validation. Exit 0 when all specs are valid, 1 when any is
    invalid, 2 on a usage error.
    """
    from runner.spec import validate_paths

    reports = validate_paths(list(paths) or ["jobs"], platform(stack_outputs))
    invalid = [r for r in reports if not r.ok]
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    if output_format == "json":
        import orjson

        document = {
            "valid": not invalid,
            "summary": {
                "files": len(reports),
                "invalid_files": len(invalid),
                "errors": errors,
                "warnings": warnings,
            },
            "files": [r.to_dict() for r in reports],
        }
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        lines = [line for r in reports for line in r.lines()]
        if lines:
            click.echo("\n".join(lines))
        summary = (
            f"{len(reports)} spec{'s' if len(reports) != 1 else ''}: "
            f"{len(reports) - len(invalid)} valid, {len(invalid)} invalid "
            f"({errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''})"
        )
        click.echo(summary, err=True)
    return EXIT_INVALID if invalid else EXIT_OK
