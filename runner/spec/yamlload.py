"""YAML with line marks: every value and key keeps its line:column, and nothing unsafe gets through.

PyYAML's composer gives nodes with marks; we turn them into plain JSON-like
values ourselves so that duplicate keys, non-string keys, exotic tags and
alias bombs become located findings instead of silent surprises. Dates stay
strings (a spec is JSON data, not YAML 1.1 timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import yaml

from runner.spec.findings import Finding, Path_

MAX_BYTES = 5 * 1024 * 1024  # a spec is a few KB; data belongs in a source file
MAX_NODES = 100_000  # after expanding aliases: stops "billion laughs"
MAX_DEPTH = 64
# Text after expanding aliases: one big anchored string aliased thousands of times is few
# nodes but gigabytes for every later check (credentials, schema, templates) to walk.
MAX_EXPANDED_CHARS = 2 * MAX_BYTES

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


# libyaml's parser when PyYAML was built with it: about ten times faster than the pure one.
if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader without the timestamp resolver: `2024-01-01` stays the string it looks like."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CONSTRUCTOR = yaml.SafeLoader("")


@dataclass
class LoadedYaml:
    """The document as plain data, plus where each value (`values`) and key (`keys`) starts."""

    data: Any = None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    text: str = ""
    findings: list[Finding] = field(default_factory=list)  # duplicate keys and the like
    coerced: dict[Path_, str] = field(default_factory=dict)  # plain `yes`/`no`/`on`/`off`... read as bool
    fatal: bool = False  # nothing usable was loaded

    def mark(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The nearest known position for `path` (a key's own position when `key`)."""
        if key and path in self.keys:
            return self.keys[path]
        probe = tuple(path)
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))


class _TooBig(Exception):
    def __init__(self, message: str, mark, rule: str, hint: str):
        super().__init__(message)
        self.message, self.mark, self.rule, self.hint = message, mark, rule, hint


def load_yaml(raw: bytes) -> LoadedYaml:
    """Decode, parse and convert one spec file; problems become findings, never exceptions."""
    result = LoadedYaml()

    def fatal(line: int, column: int, message: str, rule: str, hint: str | None = None) -> LoadedYaml:
        result.findings.append(Finding(line, column, (), message, rule, hint))
        result.fatal = True
        return result

    if len(raw) > MAX_BYTES:
        return fatal(
            1,
            1,
            f"file is larger than {MAX_BYTES // 1024 // 1024} MB, the limit for a spec",
            "yaml.size",
            "keep rows in a data file and point template.source at it",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return fatal(
            line,
            column,
            f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            "yaml.encoding",
            "save the file as UTF-8",
        )
    result.text = text
    try:
        deep = _too_deep(text)
        if deep is not None:
            return fatal(
                deep.line + 1,
                deep.column + 1,
                f"YAML nesting deeper than {MAX_DEPTH} levels",
                "yaml.depth",
                "a spec needs a few levels of nesting",
            )
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and problem.startswith("but "):
            problem = f"{exc.context}, {problem}"
        elif exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        tab = mark is not None and _char_at(text, line, column) == "\t"
        return fatal(
            line,
            column,
            f"YAML syntax error: {problem}",
            "yaml.syntax",
            "indent with spaces, not tabs" if tab else None,
        )
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return fatal(
            line,
            column,
            f"YAML syntax error: control character #x{code:02x} is not allowed",
            "yaml.syntax",
            "remove control characters from the file",
        )
    except yaml.YAMLError as exc:
        return fatal(1, 1, f"YAML syntax error: {exc}", "yaml.syntax")
    except RecursionError:
        return fatal(1, 1, "YAML nesting is too deep", "yaml.depth")
    if node is None:
        return fatal(
            1,
            1,
            "empty spec: the file holds no YAML document",
            "yaml.empty",
            "start from an example in jobs/examples/",
        )
    counter = [0, 0]  # nodes, characters of text
    try:
        result.data = _convert(node, (), result, counter, 0)
    except _TooBig as exc:
        result.data = None
        return fatal(exc.mark.line + 1, exc.mark.column + 1, exc.message, exc.rule, exc.hint)
    return result


def _too_deep(text: str):
    """The mark where nesting passes MAX_DEPTH, or None.

    libyaml's event parser keeps an explicit stack, but the composer recurses on
    the C stack: `[[[[...` a million deep would crash the process, not raise.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    return lines[line - 1][column - 1 : column] if 0 < line <= len(lines) else ""


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _convert(node: yaml.Node, path: Path_, result: LoadedYaml, counter: list[int], depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _TooBig(
            f"more than {MAX_NODES} YAML nodes once aliases are expanded",
            node.start_mark,
            "yaml.aliases",
            "do not nest anchors and aliases",
        )
    if depth > MAX_DEPTH:
        raise _TooBig(
            f"YAML nesting deeper than {MAX_DEPTH} levels",
            node.start_mark,
            "yaml.depth",
            "a spec needs a few levels; a self-referencing alias nests forever",
        )
    result.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, result, counter, depth)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), result, counter, depth + 1) for i, item in enumerate(node.value)]
    counter[1] += len(node.value)
    if counter[1] > MAX_EXPANDED_CHARS:
        raise _TooBig(
            f"more than {MAX_EXPANDED_CHARS // 1024 // 1024} MB of text once aliases are expanded",
            node.start_mark,
            "yaml.aliases",
            "alias small values only; keep long texts in a data file",
        )
    return _scalar(cast(yaml.ScalarNode, node), path, result)  # composed nodes: mapping, sequence or scalar


def _mapping(node: yaml.MappingNode, path: Path_, result: LoadedYaml, counter, depth) -> dict:
    out: dict[str, Any] = {}
    seen: dict[str, tuple[int, int]] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        if key_node.tag == _MERGE:
            merged.append(value_node)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            result.findings.append(Finding(*where, path, "mapping keys must be plain strings", "yaml.key"))
            continue
        key = key_node.value
        if key in seen:
            result.findings.append(
                Finding(
                    *where,
                    path + (key,),
                    f"duplicate key {key!r} (first defined at line {seen[key][0]})",
                    "yaml.duplicate-key",
                    "remove one of them",
                )
            )
            continue
        seen[key] = where
        counter[1] += len(key)
        result.keys[path + (key,)] = where
        out[key] = _convert(value_node, path + (key,), result, counter, depth + 1)
    for value_node in merged:  # `<<: *defaults`: explicit keys win
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            data = _convert(source, path, result, counter, depth + 1)
            if not isinstance(data, dict):
                line, column = source.start_mark.line + 1, source.start_mark.column + 1
                result.findings.append(Finding(line, column, path, "'<<' must merge a mapping", "yaml.merge"))
                continue
            for key, value in data.items():
                out.setdefault(key, value)
        result.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    return out


def _scalar(node: yaml.ScalarNode, path: Path_, result: LoadedYaml) -> Any:
    if node.tag not in _SCALAR_TAGS:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        result.findings.append(
            Finding(
                line,
                column,
                path,
                f"unsupported YAML tag {tag}",
                "yaml.tag",
                "write plain strings, numbers and booleans",
            )
        )
        return node.value
    if (
        not node.style
        and node.tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
        and node.value.lower() not in ("true", "false", "null", "~", "")
    ):
        result.coerced[path] = node.value
    try:  # the plain constructors, not construct_object(): it caches every node it sees
        return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
    except ValueError:  # Python refuses int() of more than 4300 digits
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        result.findings.append(Finding(line, column, path, "number has too many digits", "yaml.number"))
        return node.value
    except (yaml.YAMLError, KeyError):
        return node.value
