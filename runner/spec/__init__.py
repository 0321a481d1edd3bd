"""Job specs: YAML with line marks, schema + semantic validation, the model catalog.

load_spec(path) -> JobSpec                     raises SpecErrors with every error of the file
validate_paths(paths, stack_outputs=None)      -> list[FileReport], one per spec file
catalog() -> Catalog                           the model catalog (cached)
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import SpecErrors, UsageError
from runner.spec.catalog import Catalog, ModelInfo, catalog
from runner.spec.check import check_file, spec_files
from runner.spec.findings import FileReport, Finding
from runner.spec.model import JobSpec
from runner.spec.stack_outputs import StackOutputs, load_stack_outputs, resolve_stack_outputs

__all__ = [
    "Catalog",
    "FileReport",
    "Finding",
    "JobSpec",
    "ModelInfo",
    "StackOutputs",
    "catalog",
    "load_spec",
    "load_stack_outputs",
    "resolve_stack_outputs",
    "validate_paths",
]


def load_spec(path: str | Path, stack_outputs: StackOutputs | str | Path | None = None) -> JobSpec:
    """The validated spec at `path`; SpecErrors lists every error (warnings are on `spec.warnings`)."""
    if not Path(path).exists():
        raise UsageError("no such file", where=str(path), hint="pass the path of a spec file")
    if Path(path).is_dir():
        raise UsageError("is a folder, not a spec file", where=str(path), hint="pass one *.yaml spec file")
    report = check_file(path, stack=_stack(stack_outputs))
    if not report.ok:
        raise SpecErrors([f.to_error(report.path) for f in report.errors])
    assert report.spec is not None
    return report.spec


def validate_paths(
    paths: list[str | Path], stack_outputs: StackOutputs | str | Path | None = None
) -> list[FileReport]:
    """Validate files and folders (every *.yaml/*.yml below them); paths are displayed as given."""
    stack = _stack(stack_outputs)
    reports = []
    for given in paths:
        given_path = Path(given)
        if given_path.is_dir():
            files = spec_files(given_path)
            if not files:
                raise UsageError("no *.yaml or *.yml specs in this folder", where=str(given))
            reports += [check_file(f, stack, display=_display(f)) for f in files]
        elif given_path.exists():
            reports.append(check_file(given_path, stack, display=str(given)))
        else:
            raise UsageError(
                "no such file or folder",
                where=str(given),
                hint="pass spec files or folders; the default is jobs/",
            )
    _unique_names(reports)
    _unique_destinations(reports)
    return reports


def _unique_names(reports: list[FileReport]) -> None:
    """A spec's name is its identity (job labels, ledgers): two files may not share one."""
    first: dict[str, FileReport] = {}
    for report in reports:
        if report.spec is None:
            continue
        earlier = first.setdefault(report.spec.name, report)
        if earlier is not report and Path(earlier.path).resolve() != Path(report.path).resolve():
            report.findings.append(
                Finding(
                    *report.name_at,
                    ("name",),
                    f"name {report.spec.name!r} is already used by {earlier.path}",
                    "name.duplicate",
                    "a spec's name is its identity in job labels and ledgers: rename one",
                )
            )
            report.spec = None


def _unique_destinations(reports: list[FileReport]) -> None:
    """Two specs writing one destination would each replace the other's results."""
    first: dict[str, FileReport] = {}
    for report in reports:
        if report.spec is None:
            continue
        earlier = first.setdefault(report.spec.destination_key, report)
        if (
            earlier is not report
            and earlier.spec is not None
            and Path(earlier.path).resolve() != Path(report.path).resolve()
        ):
            report.findings.append(
                Finding(
                    *report.destination_at,
                    ("destination",),
                    f"destination {report.spec.destination!r} is already written by spec "
                    f"{earlier.spec.name!r} ({earlier.path})",
                    "destination.duplicate",
                    "each spec owns its destination (a run replaces it): give one of them another",
                )
            )
            report.spec = None


def _display(path: Path) -> str:
    return path.as_posix()


def _stack(value: StackOutputs | str | Path | None) -> StackOutputs | None:
    if value is None or isinstance(value, StackOutputs):
        return value
    return load_stack_outputs(value)
