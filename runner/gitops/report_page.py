"""A report's HTML: one self-contained page per spec, and an index for several.

The page inlines its stylesheet, script and SVG charts and names them by hash in its
Content-Security-Policy (`default-src 'none'`), so a browser loads nothing else: it opens
offline, from a CI artifact, and cannot leak a result row to any server.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from runner.gitops import report_charts as charts
from runner.gitops.report import SpecReport
from runner.gitops.report_stats import FieldStats, ReportStats
from runner.paths import shown

ASSETS = Path(__file__).resolve().parent / "report_assets"


@cache
def _assets() -> tuple[str, str, str]:
    """The stylesheet, the script, and the Content-Security-Policy that allows exactly them."""
    css = (ASSETS / "report.css").read_text(encoding="utf-8")
    js = (ASSETS / "report.js").read_text(encoding="utf-8")
    csp = (
        f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return css, js, csp


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(ASSETS),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(n=charts.fmt_count, usd=charts.fmt_usd, num=charts.fmt_number)
    return env


@dataclass
class FieldChart:
    stats: FieldStats
    kind: str  # what the schema says, as shown
    chart: Markup | None
    caption: str


def render_page(report: SpecReport, *, index: str | None = None) -> str:
    css, js, csp = _assets()
    stats = report.stats
    samples = list(stats.samples)
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            r=report,
            s=stats,
            spec=report.spec,
            spec_path=shown(report.spec.path),
            region=report.plan.region if report.plan else report.spec.region,
            charts=_charts(report),
            fields=[_field_chart(f) for f in stats.fields],
            samples=samples,
            sample_count=len(samples),
            keep=bool(getattr(report.spec.output, "keep", ())),
            index=index,
            css=Markup(css),
            js=Markup(js),
            csp=csp,
        )
    )


def render_index(pages: list[tuple[SpecReport, str]], target: str) -> str:
    css, _, csp = _assets()
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            specs=pages,
            target=target,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            css=Markup(css),
            csp=csp,
        )
    )


def _charts(report: SpecReport) -> dict[str, Any]:
    stats: ReportStats = report.stats
    by_status = [
        ("succeeded", stats.by_status.get("succeeded", 0)),
        ("errored", stats.by_status.get("errored", 0)),
    ]
    by_status += [(k, c) for k, c in stats.by_status.items() if k not in ("succeeded", "errored")]
    if report.expected is not None:
        by_status.append(("not run yet", report.not_run))
    total = max(report.expected or 0, stats.total)
    found: dict[str, Any] = {
        "status": charts.hbars(
            by_status,
            title="Rows by status",
            total=total,
            classes={"succeeded": "bar-ok", "errored": "bar-err", "not run yet": "bar-muted"},
        ),
        "stop": charts.hbars(stats.stop_reasons.most_common(8), title="Rows by stop reason")
        if stats.stop_reasons
        else None,
        "cost": charts.compare(_estimate_pairs(report), title="Plan's estimate against actual usage"),
        "output_tokens": _histogram(
            stats.output_per_row, title="Output tokens per row", x_label="output tokens per row"
        ),
        "latency": _histogram(stats.latency_ms, title="Latency per row", x_label="latency (ms)"),
        "attempts": charts.hbars(
            [(f"{k} attempt{'s' if k != 1 else ''}", c) for k, c in sorted(stats.attempts.items())],
            title="Attempts per row",
        )
        if stats.attempts
        else None,
    }
    return found


def _estimate_pairs(report: SpecReport) -> list[tuple[str, float | None, float | None, str]]:
    plan, stats = report.plan, report.stats
    return [
        ("requests", plan.requests if plan else None, stats.total, "rows"),
        ("input tokens", plan.input_tokens if plan else None, stats.input_tokens, "tokens"),
        (
            "output tokens (plan: at max_tokens)",
            plan.output_tokens_max if plan else None,
            stats.output_tokens,
            "tokens",
        ),
        ("cost", plan.cost_usd if plan else None, report.cost_usd, "USD"),
    ]


def _histogram(hist, *, title: str, x_label: str) -> Markup | None:
    if not hist.count:
        return None
    return charts.histogram(hist.bins(), title=title, x_label=x_label, categorical=hist.categorical)


def _field_chart(f: FieldStats) -> FieldChart:
    about = f"{f.description.rstrip('.')}. " if f.description else ""
    missing = f" {charts.fmt_count(f.missing)} succeeded rows have no value." if f.missing else ""
    if f.chart == "bars":
        return FieldChart(
            f,
            "enum" if f.order != ["false", "true"] else "boolean",
            charts.hbars(f.bars(), title=f"{f.name}: rows per value", total=f.present),
            f"{about}Rows per value (share of rows with a value).{missing}",
        )
    if f.chart == "histogram" and f.numbers.count:
        h = f.numbers
        return FieldChart(
            f,
            "number",
            charts.histogram(
                h.bins(),
                title=f"{f.name}: distribution",
                x_label=f"{f.name} (value)",
                categorical=h.categorical,
            ),
            f"{about}Rows per value: min {charts.fmt_number(h.min)}, mean {charts.fmt_number(h.mean)}, "
            f"max {charts.fmt_number(h.max)}.{missing}",
        )
    if f.chart == "top" and f.strings.count:
        top = f.strings
        bound = (
            f" Counts are lower bounds (each at most {charts.fmt_count(top.pruned_max)} low)."
            if top.approximate
            else ""
        )
        return FieldChart(
            f,
            "string",
            charts.hbars(top.top(), title=f"{f.name}: most frequent values", total=top.count),
            f"{about}The most frequent of {charts.fmt_count(top.count)} values.{bound}{missing}",
        )
    return FieldChart(f, f.chart, None, f"{about}{missing}".strip())
