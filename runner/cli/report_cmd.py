"""`claude-jobs report`: a self-contained HTML results page per spec."""

from __future__ import annotations

import click

from runner.cli._common import check_regions, opened_target, project_options, state_option, stderr_console
from runner.errors import SpecError, SpecErrors

REPORT_EPILOG = """\b
Exit codes:
  0  the report was written (a spec that has not run yet gets a page saying so)
  1  a spec is invalid: no report was written
  2  usage error (e.g. --output FILE.html for several specs)
  3  target or configuration error (credentials, local stack, unwritable --output)
  4  remote error (reading batch jobs or their outputs)
  130 interrupted
"""


@click.command(epilog=REPORT_EPILOG)
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=str))
@project_options
@state_option
@click.option(
    "--output",
    "-o",
    default=None,
    metavar="FILE.html|DIR",
    help="One spec: the page to write (default report.html). Several: a folder for one page "
    "each plus index.html (default report/).",
)
@click.option(
    "--no-estimate",
    is_flag=True,
    help="Skip the plan's estimate (no requests are rendered, no count-tokens calls).",
)
def report(paths, project, region, local, state, output, no_estimate):
    """Write a results report for each spec under PATH (files or folders; default jobs/).

    A single HTML file per spec that opens offline (no CDN, no network request):
    the spec and its jobs (with Vertex console links on a real project), rows
    by status, errors grouped by type with example custom_ids, tokens and cost
    against the plan's estimate, latency and attempts (stream), a chart per
    field of a typed output schema, and a sample of rows (errored first) that
    can be filtered by status and searched by custom_id. Built from the same
    results `claude-jobs results` reads, in one streaming pass. Nothing is sent
    to Claude. Prints the path of the page to open. See docs/report.md.
    """
    from runner.gitops.plan import load_specs
    from runner.gitops.report import output_paths, write_reports

    specs, errors = load_specs(list(paths) or ["jobs/"])
    if errors:
        raise SpecErrors([SpecError(line) for line in errors])
    if not specs:
        raise SpecError(
            "no spec to report on", where=" ".join(paths) or "jobs/", hint="pass spec files or folders"
        )
    check_regions(specs, region)
    output_paths(specs, output)  # a wrong --output is refused before the stack starts
    console = stderr_console()

    def on_page(page, path):
        for note in page.notes:
            console.print(f"{page.spec.name}: {note}", style="dim", markup=False, highlight=False)

    with opened_target(project, region or (specs[0].region if len(specs) == 1 else None), local) as target:
        opened = write_reports(
            specs, target, output, region=region, estimate=not no_estimate, state=state, on_page=on_page
        )
    click.echo(f"report: {opened}")
    return 0
