"""The one JSON line parser and the one CSV reader for input rows: `validate` and `run` read alike.

orjson is fast and refuses what cannot be sent (NaN, `1e999`, nesting past 1024), but it
turns integers past 64 bits into floats that lose digits, and such an integer could not be
written back into a request either: those are refused too, with the same message everywhere.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"[0-9]{20}")  # only then can an integer be past 64 bits
_MIN_INT, _MAX_INT = -(1 << 63), (1 << 64) - 1
_PLAIN_WORDS = {
    "number is infinity when parsed as double": "number too large (past a 64-bit float)",
    "depth limit exceeded": "nested deeper than 1024 levels",
}


class BadJson(ValueError):
    """A line that is not JSON we accept; `column` is 1-based, or None when unknown."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.column = column


def parse_json_line(line: bytes | str) -> Any:
    """The value of one JSON text; BadJson says why not."""
    raw = line.encode() if isinstance(line, str) else line
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(_PLAIN_WORDS.get(exc.msg, exc.msg), exc.colno) from None
    if _LONG_DIGITS.search(raw):  # digits in a string, or an integer orjson made a float
        try:
            json.loads(raw, parse_int=_int_in_range)
        except RecursionError:
            raise BadJson("nesting too deep") from None
    return value


def _int_in_range(text: str) -> int:
    value = int(text)
    if not _MIN_INT <= value <= _MAX_INT:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise BadJson(f"integer {shown} does not fit in 64 bits (quote it to keep it as text)")
    return value


CSV_FIELD_LIMIT = 64 << 20


class BadCsv(ValueError):
    """A CSV record that cannot be read; `line` is where the record starts."""

    def __init__(self, message: str, line: int, hint: str | None = None):
        super().__init__(message)
        self.message, self.line, self.hint = message, line, hint


def csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per CSV record, header included; blank lines are skipped.

    Strict: a quote left open would otherwise swallow every later line into one field.
    """
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        for values in reader:
            if values:
                yield start, values
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise BadCsv(
                "unterminated quoted field", start, 'close the quote, or double a quote inside a field: ""'
            ) from None
        raise BadCsv(
            f"bad CSV: {exc}", start, 'a quoted field ends with a quote followed by "," or a line end'
        ) from None
