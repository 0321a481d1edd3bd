"""The `filter` of ListBatchPredictionJobs (AIP-160 subset Vertex documents for it).

Fields: `display_name` (`=`, `!=`, `:` wildcard), `model_display_name` (`=`, `!=`),
`state` (`=`, `!=`), `create_time` (`=`, `!=`, `<`, `<=`, `>`, `>=`, RFC 3339),
`labels.KEY=value`, `labels.KEY:*`; joined with AND, OR (binds tighter, as in
AIP-160), NOT / `-`, and parentheses.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|(<=|>=|!=|=|<|>|:)|([^\s()"<>=!:]+))')
Predicate = Callable[[dict], bool]
_FIELDS = {
    "display_name": "displayName",
    "displayName": "displayName",
    "state": "state",
    "model_display_name": "model",
    "create_time": "createTime",
    "createTime": "createTime",
}


class FilterError(ValueError):
    """The filter cannot be parsed or names an unsupported field."""


def parse(text: str) -> Predicate:
    tokens = _tokenize(text)
    if not tokens:
        return lambda job: True
    predicate, rest = _and(tokens)
    if rest:
        raise FilterError(f"unexpected {rest[0][1]!r} in filter")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"cannot parse the filter at position {pos}: {text[pos : pos + 20]!r}")
        lparen, rparen, quoted, op, word = match.groups()
        if lparen:
            tokens.append(("(", "("))
        elif rparen:
            tokens.append((")", ")"))
        elif quoted is not None:
            tokens.append(("value", re.sub(r"\\(.)", r"\1", quoted)))
        elif op:
            tokens.append(("op", op))
        else:
            tokens.append(("word", word))
        pos = match.end()
    return tokens


def _and(tokens):
    left, tokens = _or(tokens)
    while tokens and tokens[0] == ("word", "AND"):
        right, tokens = _or(tokens[1:])
        left = (lambda a, b: lambda job: a(job) and b(job))(left, right)
    return left, tokens


def _or(tokens):
    left, tokens = _unary(tokens)
    while tokens and tokens[0] == ("word", "OR"):
        right, tokens = _unary(tokens[1:])
        left = (lambda a, b: lambda job: a(job) or b(job))(left, right)
    return left, tokens


def _unary(tokens):
    if not tokens:
        raise FilterError("the filter ends too early")
    kind, text = tokens[0]
    if (kind, text) == ("word", "NOT") or (kind == "word" and text.startswith("-")):
        rest = tokens[1:] if text in ("NOT", "-") else [("word", text[1:]), *tokens[1:]]
        inner, rest = _unary(rest)
        return (lambda job: not inner(job)), rest
    if tokens[0][0] == "(":
        inner, rest = _and(tokens[1:])
        if not rest or rest[0][0] != ")":
            raise FilterError("missing ')' in filter")
        return inner, rest[1:]
    return _comparison(tokens)


def _comparison(tokens):
    if (
        len(tokens) < 3
        or tokens[0][0] != "word"
        or tokens[1][0] != "op"
        or tokens[2][0] not in ("word", "value")
    ):
        raise FilterError("expected FIELD OPERATOR VALUE in filter")
    field, op, value = tokens[0][1], tokens[1][1], tokens[2][1]
    if field.startswith("labels."):
        key = field[len("labels.") :]
        if op == ":":
            return (
                lambda job: (
                    key in (job.get("labels") or {})
                    and (value == "*" or fnmatch.fnmatchcase(job["labels"][key], value))
                )
            ), tokens[3:]
        if op in ("=", "!="):
            want = op == "="
            return (lambda job: ((job.get("labels") or {}).get(key) == value) == want), tokens[3:]
        raise FilterError(f"labels support only '=', '!=' and ':', not {op!r}")
    if field not in _FIELDS:
        raise FilterError(
            f"unsupported filter field {field!r}",
        )
    key = _FIELDS[field]
    if op == ":" and key == "displayName":
        return (lambda job: fnmatch.fnmatchcase(job.get(key, ""), value)), tokens[3:]
    if op in ("<", "<=", ">", ">=") and key == "createTime":
        compare = {"<": str.__lt__, "<=": str.__le__, ">": str.__gt__, ">=": str.__ge__}[op]
        value = _normal_time(value)
        return (lambda job: compare(_normal_time(job[key]), value)), tokens[3:]
    if op not in ("=", "!="):
        raise FilterError(f"{field} does not support {op!r}")
    want = op == "="
    if key == "createTime":
        value = _normal_time(value)
        return (lambda job: (_normal_time(job[key]) == value) == want), tokens[3:]
    if key == "model":
        return (
            lambda job: (job.get(key, "").rsplit("/", 1)[-1] == value.rsplit("/", 1)[-1]) == want
        ), tokens[3:]
    return (lambda job: (job.get(key) == value) == want), tokens[3:]


def _normal_time(value: str) -> str:
    """RFC 3339 in UTC to a sortable fixed-width form."""
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"create_time must be RFC 3339, not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
