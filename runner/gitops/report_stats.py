"""What a report shows, gathered in one pass over the result rows, in memory bounded by the page.

Every collector here holds at most a fixed number of items whatever the number of rows:
a histogram's bins coarsen as its range grows (counts stay exact), top values are pruned
lossily (their counts become lower bounds, and the page says so), sample rows are a reservoir
sample (errored and succeeded ones in their own reservoirs, so errors always show).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.records import ResultRow

MAX_BINS = 40  # a histogram never has more bars than this
TOP_CAPACITY = 2000  # distinct values a top-values counter keeps before it prunes
TOP_SHOWN = 12
VALUE_CHARS = 120  # a string value is counted by its first characters
ERROR_GROUPS = 50  # error types kept apart; the rest are counted as "other"
ERROR_EXAMPLES = 5  # example custom_ids per error type
SAMPLE_ERRORED = 100
SAMPLE_SUCCEEDED = 150
PREVIEW_CHARS = 400  # answer text or error message shown per sample row
OTHER = "(other)"


class Histogram:
    """Counts of numbers: exact per value while there are few distinct values, then bins.

    Bins are aligned on multiples of a width that doubles (merging pairs of bins) whenever
    the range would need more than `max_bins` of them, so counts stay exact at any size.
    """

    def __init__(self, max_bins: int = MAX_BINS):
        self.max_bins = max_bins
        self.count = 0
        self.total = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.width: float | None = None  # None: still exact per value
        self._exact: dict[float, int] | None = {}
        self._bins: dict[int, int] = {}

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.min = value if self.min is None or value < self.min else self.min
        self.max = value if self.max is None or value > self.max else self.max
        if self._exact is not None:
            self._exact[value] = self._exact.get(value, 0) + 1
            if len(self._exact) > self.max_bins:
                self._to_bins()
            return
        self._put(value, 1)

    @property
    def exact(self) -> bool:
        """True while every distinct value has its own count."""
        return self._exact is not None

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def values(self) -> list[tuple[float, int]]:
        """(value, count) in value order; only while `exact`."""
        return sorted((self._exact or {}).items())

    def bins(self) -> list[tuple[float, float, int]]:
        """(low, high, count) for every bin from the lowest to the highest, empty ones included.

        While exact, integers over a short range get one bin per integer (`high == low`);
        other values are binned now, on round edges.
        """
        if self._exact is not None:
            exact, values = self._exact, self.values()
            if not values:
                return []
            low, high = values[0][0], values[-1][0]
            if all(float(v).is_integer() for v, _ in values) and high - low < self.max_bins:
                return [(v, v, exact.get(v, 0)) for v in range(int(low), int(high) + 1)]
            width = nice_width((high - low) / (self.max_bins / 2))
            keys: dict[int, int] = {}
            for v, c in values:
                keys[math.floor(v / width)] = keys.get(math.floor(v / width), 0) + c
            first, last = min(keys), max(keys)
            return [(k * width, (k + 1) * width, keys.get(k, 0)) for k in range(first, last + 1)]
        assert self.width is not None and self.min is not None and self.max is not None
        low_key, high_key = self._key(self.min), self._key(self.max)
        return [
            (k * self.width, (k + 1) * self.width, self._bins.get(k, 0)) for k in range(low_key, high_key + 1)
        ]

    @property
    def categorical(self) -> bool:
        """Whether `bins()` gives one bin per integer value."""
        bins = self.bins()
        return bool(bins) and bins[0][0] == bins[0][1]

    def quantile(self, q: float) -> float | None:
        """The value below which a fraction `q` of the numbers lie (exact while `exact`, else the
        upper edge of the bin it falls in)."""
        if not self.count:
            return None
        rank, seen = q * self.count, 0
        if self._exact is not None:
            for value, count in self.values():
                seen += count
                if seen >= rank:
                    return value
            return self.max
        for _, high, count in self.bins():
            seen += count
            if seen >= rank and count:
                return min(high, self.max) if self.max is not None else high
        return self.max

    def _key(self, value: float) -> int:
        assert self.width is not None
        return math.floor(value / self.width)

    def _to_bins(self) -> None:
        assert self._exact is not None and self.min is not None and self.max is not None
        span = self.max - self.min
        self.width = nice_width(span / (self.max_bins / 2) if span else 1.0)
        exact, self._exact = self._exact, None
        for value, count in exact.items():
            self._put(value, count)

    def _put(self, value: float, count: int) -> None:
        key = self._key(value)
        self._bins[key] = self._bins.get(key, 0) + count
        assert self.min is not None and self.max is not None
        while self._key(self.max) - self._key(self.min) + 1 > self.max_bins:
            self.width = (self.width or 1.0) * 2
            merged: dict[int, int] = {}
            for k, c in self._bins.items():
                merged[k // 2] = merged.get(k // 2, 0) + c  # floor(v / 2w) == floor(floor(v / w) / 2)
            self._bins = merged


def nice_width(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least `raw` (bins with round edges)."""
    if raw <= 0:
        return 1.0
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        width = step * 10.0**exponent
        if width >= raw:
            return width
    return 10.0 ** (exponent + 1)


class TopValues:
    """The most frequent values of a string field, in bounded memory.

    When more than `capacity` distinct values are held, the less frequent half is dropped and
    the largest dropped count remembered: counts shown are then lower bounds, off by at most that.
    """

    def __init__(self, capacity: int = TOP_CAPACITY):
        self.capacity = capacity
        self.counts: Counter[str] = Counter()
        self.pruned_max = 0  # 0: counts are exact
        self.count = 0

    def add(self, value: str) -> None:
        self.count += 1
        self.counts[value[:VALUE_CHARS]] += 1
        if len(self.counts) > self.capacity:
            ranked = self.counts.most_common()
            keep = ranked[: self.capacity // 2]
            self.pruned_max = max(self.pruned_max, ranked[len(keep)][1])
            self.counts = Counter(dict(keep))

    @property
    def approximate(self) -> bool:
        return self.pruned_max > 0

    def top(self, n: int = TOP_SHOWN) -> list[tuple[str, int]]:
        return self.counts.most_common(n)


class Reservoir:
    """A uniform random sample of at most `size` items from a stream of unknown length.

    `slot()` says where the next item goes (None: not kept), so a caller builds only the
    items that are kept.
    """

    def __init__(self, size: int, seed: int = 13):
        self.size = size
        self.seen = 0
        self.items: list[Any] = []
        self._rng = random.Random(seed)  # the same rows on every run of the same results

    def slot(self) -> int | None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(None)
            return len(self.items) - 1
        slot = self._rng.randrange(self.seen)
        return slot if slot < self.size else None

    def add(self, item: Any) -> None:
        slot = self.slot()
        if slot is not None:
            self.items[slot] = item


@dataclass
class ErrorGroup:
    kind: str
    count: int = 0
    examples: list[str] = field(default_factory=list)  # custom_ids
    message: str = ""  # the first one seen


@dataclass
class FieldStats:
    """One typed answer field: how its values are distributed."""

    name: str
    chart: str  # bars (enum, boolean) | histogram (number) | top (string) | none
    description: str = ""  # the schema's, shown under the chart
    categories: Counter[str] = field(default_factory=Counter)  # bars
    order: list[str] = field(default_factory=list)  # bars: the schema's order (enum, false/true)
    numbers: Histogram = field(default_factory=Histogram)
    strings: TopValues = field(default_factory=TopValues)
    present: int = 0
    missing: int = 0  # rows that succeeded without this field (or with null)
    note: str = ""

    def add(self, value: Any) -> None:
        if value is None:
            self.missing += 1
            return
        self.present += 1
        items = value if isinstance(value, list) else [value]  # an array counts each item
        for item in items:
            if self.chart == "bars":
                label = _label(item)
                if label in self.categories or len(self.categories) < ERROR_GROUPS:
                    self.categories[label] += 1
                else:
                    self.categories[OTHER] += 1
            elif self.chart == "histogram":
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    self.numbers.add(item)
            elif self.chart == "top":
                self.strings.add(item if isinstance(item, str) else _label(item))

    def bars(self) -> list[tuple[str, int]]:
        """Categories in the schema's order, then any value outside it (by count)."""
        known = [(label, self.categories.get(label, 0)) for label in self.order]
        extra = [(k, c) for k, c in self.categories.most_common() if k not in self.order]
        return known + extra


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:VALUE_CHARS]


def field_stats(name: str, schema: dict[str, Any]) -> FieldStats:
    """The chart a field's JSON Schema calls for: enum and boolean -> bars, number -> histogram,
    string -> top values; an array charts its items."""
    item: dict[str, Any] = schema
    if _types(schema) == {"array"}:
        items = schema.get("items")
        item = items if isinstance(items, dict) else {}
    types = _types(item) - {"null"}
    about = str(schema.get("description") or "")[:200]
    if "enum" in item:
        return FieldStats(name, "bars", description=about, order=[_label(v) for v in item["enum"]])
    if types == {"boolean"}:
        return FieldStats(name, "bars", description=about, order=["false", "true"])
    if types and types <= {"integer", "number"}:
        return FieldStats(name, "histogram", description=about)
    if types == {"string"}:
        return FieldStats(name, "top", description=about)
    kind = "/".join(sorted(types)) or "any"
    return FieldStats(name, "none", description=about, note=f"{kind} values are not charted")


def schema_fields(
    schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict]]:
    """The answer's fields as (path, schema): top-level properties, and the properties of an
    object field (nested objects are charted field by field, named `parent.child`)."""
    properties = schema.get("properties")
    for name, sub in (properties if isinstance(properties, dict) else {}).items():
        if not isinstance(sub, dict):
            continue
        if _types(sub) == {"object"} and isinstance(sub.get("properties"), dict) and len(prefix) < 3:
            yield from schema_fields(sub, (*prefix, name))
        else:
            yield (*prefix, name), sub


def _at(answer: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = answer
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(t) for t in declared}
    if "enum" in schema:
        return {"enum"}
    return set()


@dataclass
class SampleRow:
    """What the sample table shows of one result row."""

    custom_id: str
    status: str
    stop_reason: str
    latency_ms: float | None
    attempts: int
    input_tokens: int
    output_tokens: int
    answer: str  # the typed fields as JSON, or the answer's text
    error: str  # "type: message"
    kept: str = ""  # the source row's kept columns (output.keep), "name=value, ..."


class ReportStats:
    """Everything a report page shows about a spec's results, gathered row by row."""

    def __init__(self, output_schema: dict[str, Any] | None = None):
        self.total = 0
        self.by_status: Counter[str] = Counter()
        self.stop_reasons: Counter[str] = Counter()
        self.errors: dict[str, ErrorGroup] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_write_tokens = 0
        self.cache_read_tokens = 0
        self.output_per_row = Histogram()
        self.latency_ms = Histogram()
        self.attempts: Counter[int] = Counter()
        self.first_time: str | None = None
        self.last_time: str | None = None
        self.fields = [field_stats(".".join(path), sub) for path, sub in schema_fields(output_schema or {})]
        self._paths = [tuple(f.name.split(".")) for f in self.fields]
        self.errored_sample = Reservoir(SAMPLE_ERRORED, seed=1)
        self.succeeded_sample = Reservoir(SAMPLE_SUCCEEDED, seed=2)

    def add_all(self, rows: Iterable[ResultRow]) -> ReportStats:
        for row in rows:
            self.add(row)
        return self

    def add(self, row: ResultRow) -> None:
        self.total += 1
        self.by_status[row.status] += 1
        if row.stop_reason:
            self.stop_reasons[row.stop_reason] += 1
        usage = row.usage or {}
        self.input_tokens += usage.get("input_tokens") or 0
        self.output_tokens += usage.get("output_tokens") or 0
        self.cache_write_tokens += usage.get("cache_creation_input_tokens") or 0
        self.cache_read_tokens += usage.get("cache_read_input_tokens") or 0
        if row.succeeded:
            self.output_per_row.add(usage.get("output_tokens") or 0)
        if row.latency_ms is not None:
            self.latency_ms.add(row.latency_ms)
        if row.mode == "stream":
            self.attempts[row.attempts] += 1
        if row.processed_time:
            self.first_time = min(self.first_time or row.processed_time, row.processed_time)
            self.last_time = max(self.last_time or row.processed_time, row.processed_time)
        answer = None
        if row.succeeded:
            if self.fields:
                answer = answer_fields(row) or {}
                for stats, path in zip(self.fields, self._paths):
                    stats.add(_at(answer, path))
            sample = self.succeeded_sample
        else:
            self._add_error(row)
            sample = self.errored_sample
        slot = sample.slot()
        if slot is not None:
            sample.items[slot] = self._sample(row, answer)

    def _add_error(self, row: ResultRow) -> None:
        error = row.error or {}
        kind = str(error.get("type") or error.get("code") or "error")
        if kind not in self.errors and len(self.errors) >= ERROR_GROUPS:
            kind = OTHER
        group = self.errors.get(kind) or self.errors.setdefault(kind, ErrorGroup(kind))
        group.count += 1
        if len(group.examples) < ERROR_EXAMPLES:
            group.examples.append(row.custom_id)
        if not group.message:
            group.message = str(error.get("message") or "")[:PREVIEW_CHARS]

    def _sample(self, row: ResultRow, answer: dict[str, Any] | None) -> SampleRow:
        error = row.error or {}
        if answer is not None:
            import orjson

            preview = orjson.dumps(answer).decode()
        else:
            preview = answer_text(row)
        return SampleRow(
            custom_id=row.custom_id,
            status=row.status,
            stop_reason=row.stop_reason or "",
            latency_ms=row.latency_ms,
            attempts=row.attempts,
            input_tokens=(row.usage or {}).get("input_tokens") or 0,
            output_tokens=(row.usage or {}).get("output_tokens") or 0,
            answer=preview[:PREVIEW_CHARS],
            kept=", ".join(f"{k}={v}" for k, v in (row.kept or {}).items())[:PREVIEW_CHARS],
            error=f"{error.get('type') or error.get('code') or ''}: {error.get('message') or ''}"[
                :PREVIEW_CHARS
            ]
            if row.error
            else "",
        )

    @property
    def samples(self) -> Iterator[SampleRow]:
        """Errored rows first, then succeeded ones, each in custom_id order."""
        yield from sorted(self.errored_sample.items, key=lambda s: s.custom_id)
        yield from sorted(self.succeeded_sample.items, key=lambda s: s.custom_id)

    @property
    def error_groups(self) -> list[ErrorGroup]:
        return sorted(self.errors.values(), key=lambda g: (-g.count, g.kind))


def answer_text(row: ResultRow) -> str:
    """The answer's text (what a job without an output schema returns), as the results shape it."""
    if row.text is not None:
        return row.text
    content = (row.response or {}).get("content") or []  # a row from before rows were shaped
    return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("text")).strip()


def answer_fields(row: ResultRow) -> dict[str, Any] | None:
    """A typed answer's top-level fields, as `runner.dataio.results` parsed and checked them."""
    return row.answer if isinstance(row.answer, dict) else None
