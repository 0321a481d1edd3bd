"""The report's charts as inline SVG: horizontal bars, histograms, and estimate-vs-actual pairs.

Colours come from CSS classes (`bar`, `bar-ok`, `bar-err`, `bar-muted`, `axis`, `grid`),
defined by the page for light and dark colour schemes; the SVG itself carries no style
attribute (the page's Content-Security-Policy allows no inline style).
Every chart is an `<svg role="img">` with a `<title>` and labelled axes and units.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 640
LABEL_W = 170  # room for category labels left of horizontal bars
VALUE_W = 150  # room for "1,234 rows (12.3%)" right of them
BAR_H = 22
GAP = 6


def fmt_count(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{int(value):,}"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def fmt_number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _svg(height: int, title: str, body: list[str], css: str = "chart") -> Markup:
    label = escape(title)
    return Markup(
        f'<svg class="{css}" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "label") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(text)}</text>'


def _short(label: str, chars: int = 24) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def _units(unit: str, count: float) -> str:
    """ "rows" -> "row" for exactly one."""
    return unit[:-1] if count == 1 and unit.endswith("s") else unit


def hbars(
    items: list[tuple[str, int]],
    *,
    title: str,
    unit: str = "rows",
    total: int | None = None,
    classes: dict[str, str] | None = None,
) -> Markup:
    """One horizontal bar per (label, count), the count and its share of `total` at its end."""
    classes = classes or {}
    total = total if total is not None else sum(c for _, c in items)
    peak = max((c for _, c in items), default=0) or 1
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, count) in enumerate(items):
        y = GAP + i * (BAR_H + GAP)
        width = span * count / peak
        share = f" ({100 * count / total:.1f}%)" if total else ""
        css = classes.get(label, "bar")
        body.append(
            f"<g><title>{escape(label)}: {fmt_count(count)} {escape(_units(unit, count))}{escape(share)}</title>"
        )
        body.append(_text(LABEL_W - 8, y + BAR_H * 0.72, _short(label), anchor="end"))
        body.append(
            f'<rect class="{css}" x="{LABEL_W}" y="{y}" width="{max(width, 1 if count else 0):.1f}" '
            f'height="{BAR_H}" rx="2"/>'
        )
        body.append(
            _text(LABEL_W + width + 6, y + BAR_H * 0.72, f"{fmt_count(count)} {_units(unit, count)}{share}")
        )
        body.append("</g>")
    height = GAP + max(len(items), 1) * (BAR_H + GAP)
    return _svg(height, title, body)


def histogram(
    bins: list[tuple[float, float, int]],
    *,
    title: str,
    x_label: str,
    y_unit: str = "rows",
    categorical: bool = False,
) -> Markup:
    """Vertical bars over a value axis: bins as (low, high, count); `categorical` when each
    bin is one exact value (then every bar is labelled with its value)."""
    left, right, top, bottom = 56, 12, 12, 44
    height = 220
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max((c for *_, c in bins), default=0) or 1
    n = max(len(bins), 1)
    slot = plot_w / n
    body = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>',
        f'<line class="grid" x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}"/>',
        _text(left - 6, top + 4, fmt_count(peak), anchor="end", css="tick"),
        _text(left - 6, top + plot_h + 4, "0", anchor="end", css="tick"),
        f'<text class="tick" text-anchor="middle" transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)">'
        f"{escape(y_unit)}</text>",
        _text(left + plot_w / 2, height - 6, x_label, anchor="middle", css="axis-label"),
    ]
    every = max(1, round(n / 8))
    for i, (low, high, count) in enumerate(bins):
        x = left + i * slot
        bar_h = plot_h * count / peak
        what = fmt_number(low) if categorical else f"{fmt_number(low)}–{fmt_number(high)}"
        body.append(f"<g><title>{escape(what)}: {fmt_count(count)} {escape(y_unit)}</title>")
        body.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{max(slot - 2, 1):.1f}" height="{bar_h:.1f}"/>'
        )
        body.append("</g>")
        if categorical and i % every == 0:
            body.append(_text(x + slot / 2, top + plot_h + 16, fmt_number(low), anchor="middle", css="tick"))
        elif not categorical and i % every == 0 and (n - i) >= every * 0.6:  # not onto the end label
            body.append(_text(x, top + plot_h + 16, fmt_number(low), anchor="middle", css="tick"))
    if bins and not categorical:
        body.append(
            _text(left + plot_w, top + plot_h + 16, fmt_number(bins[-1][1]), anchor="end", css="tick")
        )
    return _svg(height, title, body)


def compare(pairs: list[tuple[str, float | None, float | None, str]], *, title: str) -> Markup:
    """Per metric, the plan's estimate and the actual value as two bars on the metric's own scale.

    `pairs` are (metric, estimate, actual, unit); unit "USD" formats as dollars.
    """
    body: list[str] = []
    y = GAP
    for metric, estimate, actual, unit in pairs:
        peak = max(estimate or 0, actual or 0) or 1
        body.append(_text(0, y + 14, f"{metric}", css="label strong"))
        y += 20
        for name, value, css in (("plan", estimate, "bar-muted"), ("actual", actual, "bar")):
            shown = (
                (fmt_usd(value) if unit == "USD" else f"{fmt_count(value)} {unit}")
                if value is not None
                else "unknown"
            )
            width = (WIDTH - LABEL_W - VALUE_W) * (value or 0) / peak
            body.append(f"<g><title>{escape(metric)}, {name}: {escape(shown)}</title>")
            body.append(_text(LABEL_W - 8, y + BAR_H * 0.72, name, anchor="end"))
            body.append(
                f'<rect class="{css}" x="{LABEL_W}" y="{y}" width="{max(width, 0):.1f}" height="{BAR_H}" rx="2"/>'
            )
            body.append(_text(LABEL_W + width + 6, y + BAR_H * 0.72, shown))
            body.append("</g>")
            y += BAR_H + GAP
        y += GAP
    return _svg(y, title, body)
