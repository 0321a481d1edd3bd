"""A `Plan` as a rich table (terminals), JSON (pipelines) or Markdown (a pull request comment)."""

from __future__ import annotations

from runner.gitops.plan import Plan, SpecPlan

STATE_MARK = {"new": "+", "changed": "~", "incomplete": ">", "up-to-date": "=", "unknown": "?"}
STATE_STYLE = {
    "new": "green",
    "changed": "yellow",
    "incomplete": "cyan",
    "up-to-date": "dim",
    "unknown": "magenta",
}
COLUMNS = (
    "",
    "spec",
    "state",
    "mode",
    "model",
    "region",
    "requests",
    "input tokens",
    "max output tokens",
    "max cost",
    "destination",
)
TABLE_COLUMNS = (
    "state",
    "spec",
    "mode",
    "model / region",
    "requests",
    "input",
    "max out",
    "max cost",
    "destination",
)
MARKDOWN_MARKER = "<!-- claude-jobs-plan -->"
WIDE = 120  # narrower consoles get one block per spec instead of a table


def render(plan: Plan, output_format: str) -> str:
    """The plan as JSON or Markdown text; the table is printed by `print_table`."""
    if output_format == "json":
        import orjson

        return orjson.dumps(plan.to_dict(), option=orjson.OPT_INDENT_2).decode()
    if output_format == "markdown":
        return markdown(plan)
    raise ValueError(output_format)


def print_table(plan: Plan, console) -> None:
    """The human view: one row per spec (a block per spec when the console is narrow), then
    notes, errors and the one-line summary."""
    if plan.specs and console.width >= WIDE:
        console.print(_table(plan))
    elif plan.specs:
        console.print(f"claude-jobs plan — {plan.target}", style="italic", markup=False, highlight=False)
        for spec in plan.specs:
            _print_block(spec, console)
    for line in _notes(plan):
        console.print(f"  note: {line}", style="dim", markup=False, highlight=False)
    for error in plan.errors:
        console.print(f"error: {error}", style="red", markup=False, highlight=False)
    console.print(summary_line(plan), style="bold", markup=False, highlight=False)


def _table(plan: Plan):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"claude-jobs plan — {plan.target}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
    )
    for name in TABLE_COLUMNS:
        numeric = name in ("requests", "input", "max out", "max cost")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for spec in plan.specs:
        cells = _cells(spec)
        table.add_row(
            Text(f"{cells[0]} {spec.state}", style=STATE_STYLE[spec.state]),
            Text(spec.name),
            spec.mode,
            Text(f"{spec.model}\n{spec.region}"),
            *cells[6:9],
            Text(cells[9]),
            Text(spec.destination),
        )
    return table


def _print_block(spec: SpecPlan, console) -> None:
    """The narrow-terminal form of one row: three short lines, like terraform's resource blocks."""
    from rich.text import Text

    cells = _cells(spec)
    head = Text.assemble(
        (f"{cells[0]} {spec.state:<10}", STATE_STYLE[spec.state]),
        (spec.name, "bold"),
        f"  {spec.mode}, {spec.model} in {spec.region}",
    )
    console.print(head, highlight=False)
    console.print(
        f"      {cells[6]} requests, {cells[7]} input tokens, {cells[8]} max output "
        f"tokens, max cost {cells[9]}",
        markup=False,
        highlight=False,
    )
    console.print(f"      -> {spec.destination}", markup=False, highlight=False)


def markdown(plan: Plan) -> str:
    """A pull request comment: summary first, then the table, notes and errors."""
    out = [MARKDOWN_MARKER, "### claude-jobs plan", "", summary_line(plan), ""]
    if plan.errors:
        out += ["**Invalid specs** — nothing can be applied until these are fixed:", "", "```"]
        out += plan.errors + ["```", ""]
    if plan.specs:
        out.append("| " + " | ".join(COLUMNS) + " |")
        out.append("|" + "|".join("---:" if _numeric(c) else "---" for c in COLUMNS) + "|")
        for spec in plan.specs:
            cells = _cells(spec)
            cells[1] = f"`{spec.name}`"
            cells[2] = f"**{spec.state}**" if spec.will_run else spec.state
            out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        out.append("")
    notes = _notes(plan)
    if notes:
        out += [f"- {_md_escape(n)}" for n in notes] + [""]
    out.append(
        f"<sub>target: {_md_escape(plan.target)} · `~` estimated offline, "
        "`≈` extrapolated from a sample · max cost assumes every request uses its full "
        "`max_tokens`; prompt caching not modelled</sub>"
    )
    return "\n".join(out) + "\n"


def summary_line(plan: Plan) -> str:
    counts = {state: sum(1 for s in plan.specs if s.state == state) for state in STATE_MARK}
    if plan.offline:
        text = f"Plan (offline, state not read): {len(plan.specs)} spec(s)"
        label = "max cost if all run"
    else:
        text = (
            f"Plan: {len(plan.changes)} to run ({counts['new']} new, "
            f"{counts['changed']} changed"
            + (f", {counts['incomplete']} incomplete" if counts["incomplete"] else "")
            + f"), {counts['up-to-date']} up to date"
        )
        label = "max cost of the runs"
    if plan.pending:
        text += f"; {label} {_money(plan.total_cost_usd)}"
        if plan.cost_unknown:
            text += f" + {plan.cost_unknown} spec(s) of unknown cost"
    if plan.errors:
        text += f"; {len(plan.errors)} error(s) in invalid specs"
    return text + "."


# -- cells ---------------------------------------------------------------------------


def _cells(spec: SpecPlan) -> list[str]:
    mark = {"counted": "", "sampled": "≈", "estimated": "~"}.get(spec.token_method, "")
    return [
        STATE_MARK[spec.state],
        spec.name,
        spec.state,
        spec.mode,
        spec.model,
        spec.region,
        _int(spec.requests),
        f"{mark}{_int(spec.input_tokens)}" if spec.input_tokens is not None else "?",
        _int(spec.output_tokens_max),
        _money(spec.cost_usd),
        spec.destination,
    ]


def _notes(plan: Plan) -> list[str]:
    notes = []
    for spec in plan.specs:
        if spec.state == "changed" and spec.previous_revision:
            notes.append(
                f"{spec.name}: revision {spec.previous_revision} -> {spec.revision} (a new run starts over)"
            )
        notes += [f"{spec.name}: {n}" for n in spec.notes]
    return notes


def _int(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _money(value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _numeric(column: str) -> bool:
    return column in ("requests", "input tokens", "max output tokens", "max cost")


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
