"""Validate one spec file: YAML, schema, then semantics; every finding located, none fatal to the run."""

from __future__ import annotations

import os
from pathlib import Path

from runner.spec.build import build_spec
from runner.spec.context import Context, repo_root_for
from runner.spec.credentials import check_credentials
from runner.spec.findings import FileReport, Finding
from runner.spec.image_checks import check_images
from runner.spec.output_checks import check_output
from runner.spec.rows import check_prepared
from runner.spec.rules import check_blocks, check_model, check_prompts, check_references
from runner.spec.schema import schema_findings
from runner.spec.template_checks import check_template
from runner.spec.yamlload import MAX_BYTES, load_yaml

SPEC_SUFFIXES = (".yaml", ".yml")


def check_file(path: str | Path, stack=None, display: str | None = None) -> FileReport:
    """Everything wrong with one spec file; `report.spec` is the JobSpec when nothing is."""
    display = display if display is not None else str(path)
    report = FileReport(path=display)
    absolute = Path(os.path.abspath(path))
    if not absolute.is_file():  # a FIFO or device would block or lie
        report.findings.append(_not_a_file(absolute))
        return report
    escape = _outside_boundary(absolute)
    if escape is not None:  # checked before reading: its contents must not reach any message
        report.findings.append(escape)
        return report
    try:
        with open(absolute, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        report.findings.append(Finding(1, 1, (), f"cannot read the file: {exc.strerror or exc}", "file.read"))
        return report
    loaded = load_yaml(raw)
    if loaded.fatal:
        report.findings = loaded.findings
        return report
    ctx = Context(loaded=loaded, spec_path=absolute, stack=stack)
    check_credentials(ctx)
    secrets = list(ctx.findings)
    # One explanation per node: a credential first, then YAML's, then the schema's.
    structural = _once_per_node(secrets, loaded.findings, schema_findings(loaded))
    if isinstance(loaded.data, dict):
        _semantics(ctx)
    semantic = [f for f in ctx.findings[len(secrets) :] if not _covered(f, structural)]
    report.findings = sorted(structural + semantic, key=lambda f: (f.line, f.column, f.message))
    report.name_at = loaded.mark(("name",))
    report.destination_at = loaded.mark(("destination",))
    if report.ok:
        warnings = tuple(f.format(display) for f in report.warnings)
        report.spec = build_spec(loaded.data, absolute, loaded.text, warnings)
    return report


def _not_a_file(path: Path) -> Finding:
    if not path.exists():
        return Finding(1, 1, (), "no such file", "file.missing", "pass the path of a spec file")
    if path.is_dir():
        return Finding(1, 1, (), "is a folder, not a spec file", "file.folder", "pass a *.yaml spec file")
    return Finding(1, 1, (), "not a regular file", "file.read", "pass a *.yaml spec file")


def _outside_boundary(absolute: Path) -> Finding | None:
    """A spec that is (or sits behind) a symlink leading out of its repository, like a data file would.

    The boundary is the repository the spec is named in; a spec named outside any repository
    must stay in its own folder.
    """
    root = repo_root_for(absolute.parent)
    boundary = root if absolute.is_relative_to(root) else absolute.parent
    try:
        resolved, inside = absolute.resolve(), boundary.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Finding(1, 1, (), "cannot resolve the file (a symlink loop?)", "file.read")
    if resolved.is_relative_to(inside):
        return None
    return Finding(
        1,
        1,
        (),
        "the spec file is a symlink to a file outside the repository; it was not read",
        "files.outside-repo",
        "copy the spec into the repository instead of linking it",
    )


def _semantics(ctx: Context) -> None:
    info = check_model(ctx)
    check_blocks(ctx)
    check_references(ctx)
    check_prompts(ctx, info)
    check_images(ctx)
    check_template(ctx)
    check_prepared(ctx)
    check_output(ctx, info)


def _once_per_node(*groups: list[Finding]) -> list[Finding]:
    """Findings of each group, except at nodes an earlier group already explained."""
    kept: list[Finding] = []
    explained: set = set()
    for group in groups:
        kept += [f for f in group if f.path not in explained]
        explained |= {f.path for f in group}
    return kept


def _covered(finding: Finding, structural: list[Finding]) -> bool:
    """A semantic finding under a node the schema already rejected would only repeat it."""
    for other in structural:
        if other.severity != "error":
            continue
        if other.path and finding.path[: len(other.path)] == other.path:
            return True
    return False


def spec_files(folder: Path) -> list[Path]:
    """Every *.yaml / *.yml below `folder`, skipping hidden folders, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if f.endswith(SPEC_SUFFIXES)]
    return found
