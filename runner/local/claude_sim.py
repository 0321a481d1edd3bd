"""A deterministic simulated Claude: the reply is a pure function of (model, request body).

Used by the local Vertex AI server for online calls and by the batch engine for
every row, so `reply()` must stay cheap (tens of microseconds for short prompts).

Each generated word is one output token; input tokens come from
`runner.local.token_counts.count_tokens` (re-exported here), so `count_tokens(body)`
and `reply(...)["usage"]["input_tokens"]` agree exactly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runner.local.token_counts import count_tokens, json_tokens, text_tokens

WORDS = tuple(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "in",
        "that",
        "it",
        "is",
        "for",
        "on",
        "with",
        "as",
        "was",
        "at",
        "by",
        "this",
        "be",
        "from",
        "or",
        "have",
        "not",
        "are",
        "but",
        "which",
        "you",
        "they",
        "we",
        "one",
        "all",
        "there",
        "their",
        "what",
        "so",
        "up",
        "out",
        "if",
        "about",
        "who",
        "get",
        "can",
        "more",
        "when",
        "make",
        "like",
        "time",
        "just",
        "know",
        "take",
        "people",
        "into",
        "year",
        "your",
        "good",
        "some",
        "could",
        "them",
        "see",
        "other",
        "than",
        "then",
        "now",
        "look",
        "only",
        "come",
        "its",
        "over",
        "think",
        "also",
        "back",
        "after",
        "use",
        "two",
        "how",
        "our",
        "work",
        "first",
        "well",
        "way",
        "even",
        "new",
        "want",
        "because",
        "any",
        "these",
        "give",
        "day",
        "most",
        "us",
        "data",
        "model",
        "result",
        "answer",
        "question",
        "report",
        "value",
        "table",
        "summary",
        "review",
        "detail",
        "clear",
        "simple",
        "point",
        "reason",
        "example",
        "case",
        "step",
        "plan",
        "review",
        "batch",
        "stream",
        "token",
        "request",
        "response",
        "system",
        "image",
        "tool",
        "input",
        "output",
        "record",
        "quality",
        "careful",
        "brief",
        "useful",
        "likely",
        "strong",
        "small",
        "large",
        "early",
        "later",
        "often",
        "rarely",
        "short",
        "long",
        "fast",
        "slow",
        "quiet",
        "bright",
        "calm",
        "steady",
        "open",
        "closed",
        "direct",
        "gentle",
        "precise",
        "broad",
        "narrow",
        "river",
        "stone",
        "garden",
        "window",
        "morning",
        "evening",
        "signal",
        "letter",
        "number",
        "pattern",
        "method",
        "process",
    ]
)
_WORD_TABLE = tuple(WORDS[i % len(WORDS)] for i in range(256))  # indexed by one random byte
_TOKEN_RE = re.compile(r"\S+\s*")


# -- reply --------------------------------------------------------------------

_TRANSPORT_KEYS = ("stream", "anthropic_version")


def _digest(model: str, body: dict) -> bytes:
    """The seed of a reply; transport keys are left out so a streamed call and a batch row agree."""
    if any(key in body for key in _TRANSPORT_KEYS):
        body = {k: v for k, v in body.items() if k not in _TRANSPORT_KEYS}
    return hashlib.blake2b(
        model.encode() + b"\0" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).digest()


def _images(body: dict) -> list[str]:
    found = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "image":
                    source = block.get("source") or {}
                    found.append(str(source.get("media_type") or source.get("type") or "image"))
    return found


def _sentences(digest: bytes, count: int) -> list[str]:
    """`count` output tokens: words with a trailing space, in sentences of 7 to 15 words."""
    noise = hashlib.shake_256(digest).digest(count * 2)
    words = [_WORD_TABLE[b] for b in noise[:count]]
    i = 0
    for b in noise[count:]:
        if i >= count:
            break
        words[i] = words[i].capitalize()
        i = min(count, i + 7 + b % 9)
        words[i - 1] += "."
    tokens = [w + " " for w in words]
    tokens[-1] = words[-1]
    return tokens


_TOLD = re.compile(r"\{([^{}]*)\}\s*$")
_FORMAT_VALUES = {
    "date-time": "2026-01-02T03:04:05Z",
    "time": "03:04:05Z",
    "date": "2026-01-02",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _told(schema: dict) -> dict[str, float]:
    """Constraints a structured-output schema states in its description (`{minimum: 1, maximum: 4}`),
    which is where clients put the ones Claude does not enforce; a model reads and follows them."""
    found = _TOLD.search(str(schema.get("description") or ""))
    told: dict[str, float] = {}
    for part in found.group(1).split(",") if found else ():
        key, _, value = part.partition(":")
        try:
            told[key.strip()] = float(value.strip())
        except ValueError:
            continue
    return told


def _schema_value(schema: Any, rng: random.Random, depth: int = 0, defs: dict | None = None) -> Any:
    """A value that matches `schema`: enums, ranges, lengths, required fields, arrays, nesting, $refs."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    defs = defs if defs is not None else schema.get("$defs") or {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _schema_value(defs.get(ref.removeprefix("#/$defs/")), rng, depth + 1, defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _schema_value(schema[key][0], rng, depth + 1, defs)
    told = {**_told(schema), **{k: v for k, v in schema.items() if isinstance(v, (int, float))}}
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {
            name: _schema_value(sub, rng, depth + 1, defs)
            for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        low = int(told.get("minItems", 1))
        n = max(low, min(int(told.get("maxItems", low + 2)), low + rng.randint(0, 2)))
        return [_schema_value(schema.get("items", {}), rng, depth + 1, defs) for _ in range(n)]
    if kind in ("integer", "number"):
        lo = told["minimum"] if "minimum" in told else told.get("exclusiveMinimum", -1.0) + 1
        hi = told["maximum"] if "maximum" in told else told.get("exclusiveMaximum", lo + 101) - 1
        if kind == "integer":
            low = math.ceil(lo)
            return rng.randint(low, max(low, math.floor(hi)))
        return round(rng.uniform(lo, hi), 2) if hi - lo >= 0.01 else lo
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if schema.get("format") in _FORMAT_VALUES:
        return _FORMAT_VALUES[schema["format"]]
    text = " ".join(rng.choices(WORDS, k=2))
    text = text[: int(told["maxLength"])] if "maxLength" in told else text
    return text.ljust(int(told.get("minLength", 0)), "x")


def _forced_tool(body: dict, rng: random.Random) -> dict | None:
    choice = body.get("tool_choice")
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("name")]
    if not isinstance(choice, dict) or not tools:
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t["name"] == choice.get("name")), None)
    if choice.get("type") == "any":
        return tools[rng.randrange(len(tools))]
    return None


def _stop_point(tokens: list[str], stop_sequences: list[str], rng: random.Random) -> tuple[int, str, str]:
    """Where the model "says" a stop sequence: (tokens before it, text before it, the sequence).

    It says a hash-chosen one at a hash-chosen point, or stops earlier where its
    text already contains one, as a real model would.
    """
    cut, said = rng.randint(1, len(tokens) - 1), rng.choice(stop_sequences)
    text = "".join(tokens[:cut])
    early = [(text.find(s), s) for s in stop_sequences if s in text]
    if early:
        position, said = min(early)
        text = text[:position]
        cut = len(_TOKEN_RE.findall(text))
    return cut, text.rstrip(" "), said


def _ident(prefix: str, digest: bytes) -> str:
    return prefix + digest[:12].hex()


def reply(body: dict, model: str) -> dict:
    """The complete Anthropic Message JSON the simulated model answers to `body`."""
    digest = _digest(model, body)
    # A Random() costs more than the rest of a short reply: build it only when needed.
    answer_format = _answer_format(body)
    rng = (
        random.Random(int.from_bytes(digest[:8], "big"))
        if body.get("tool_choice") or body.get("stop_sequences") or answer_format
        else None
    )
    max_tokens = int(body.get("max_tokens") or 1)
    usage = {
        "input_tokens": count_tokens(body),
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    content: list[dict[str, Any]] = []
    message: dict[str, Any] = {
        "id": _ident("msg_vrtx_", digest),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }

    tool = _forced_tool(body, rng) if rng is not None else None
    if tool is not None and rng is not None:
        tool_input = _schema_value(tool.get("input_schema") or {}, rng)
        tool_tokens = json_tokens(tool_input) + 8
        content.append(
            {
                "type": "tool_use",
                "id": _ident("toolu_vrtx_", digest[1:]),
                "name": tool["name"],
                "input": tool_input,
            }
        )
        message["stop_reason"] = "tool_use" if tool_tokens <= max_tokens else "max_tokens"
        usage["output_tokens"] = min(tool_tokens, max_tokens)
        return message

    if answer_format is not None and rng is not None:
        text = orjson.dumps(_schema_value(answer_format.get("schema") or {}, rng)).decode()
        answer_tokens = json_tokens(text)
        if answer_tokens > max_tokens:
            message["stop_reason"], text = "max_tokens", text[: max_tokens * 4]
        content.append({"type": "text", "text": text})
        usage["output_tokens"] = min(answer_tokens, max_tokens)
        return message

    # Extended thinking comes first and spends part of max_tokens.
    thinking = _thinking_block(body, digest)
    if thinking is not None:
        content.append(thinking)
        max_tokens -= len(_TOKEN_RE.findall(thinking["thinking"]))
    spent = usage["output_tokens"] = int(body.get("max_tokens") or 1) - max_tokens

    tokens: list[str] = []
    images = _images(body)
    if images:
        noun = "image" if len(images) == 1 else "images"
        tokens = [w + " " for w in f"I can see {len(images)} {noun} ({', '.join(images)}).".split()]
    tokens += _sentences(digest, 12 + digest[8] % 109)
    stop_sequences = [s for s in body.get("stop_sequences") or () if isinstance(s, str) and s]
    if stop_sequences and rng is not None:
        cut, text, said = _stop_point(tokens, stop_sequences, rng)
        if cut < max_tokens:
            content.append({"type": "text", "text": text})
            message["stop_reason"], message["stop_sequence"] = "stop_sequence", said
            usage["output_tokens"] = spent + cut
            return message
    if len(tokens) > max_tokens:
        tokens = tokens[: max(max_tokens, 0)]
        message["stop_reason"] = "max_tokens"
    if tokens:
        content.append({"type": "text", "text": "".join(tokens).rstrip(" ")})
    usage["output_tokens"] = spent + len(tokens)
    return message


def _answer_format(body: dict) -> dict | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    return fmt if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


def _thinking_block(body: dict, digest: bytes) -> dict | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    seed = hashlib.blake2b(digest, digest_size=16, person=b"thinking").digest()
    budget = min(int(thinking.get("budget_tokens") or 1024), int(body.get("max_tokens") or 1) - 1)
    words = _sentences(seed, max(1, min(budget, 16 + seed[0] % 100)))
    signature = base64.b64encode(hashlib.sha512(seed).digest()).decode()
    return {"type": "thinking", "thinking": "".join(words), "signature": signature}


# -- streaming ----------------------------------------------------------------


def _deltas(index: int, block: dict, chunk_tokens: int) -> list[tuple[str, dict, int]]:
    if block["type"] == "text":
        pieces = _TOKEN_RE.findall(block["text"]) or [block["text"]]
        chunks = ["".join(pieces[i : i + chunk_tokens]) for i in range(0, len(pieces), chunk_tokens)]
        return [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": chunk},
                },
                len(_TOKEN_RE.findall(chunk)) or 1,
            )
            for chunk in chunks
        ]
    if block["type"] == "thinking":
        pieces = _TOKEN_RE.findall(block["thinking"])
        return [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": "".join(pieces[i : i + chunk_tokens])},
                },
                len(pieces[i : i + chunk_tokens]),
            )
            for i in range(0, len(pieces), chunk_tokens)
        ] + [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
                0,
            )
        ]
    if block["type"] == "tool_use":
        text = json.dumps(block["input"], ensure_ascii=False)
        step = chunk_tokens * 4
        return [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": text[i : i + step]},
                },
                text_tokens(text[i : i + step]),
            )
            for i in range(0, len(text), step)
        ]
    return []


def stream_events(message: dict, chunk_tokens: int = 4) -> list[tuple[str, dict, int]]:
    """The SSE events Vertex sends for `message`: (event name, data, output tokens it carries)."""
    usage = message["usage"]
    start = dict(
        message, content=[], stop_reason=None, stop_sequence=None, usage=dict(usage, output_tokens=1)
    )
    events: list[tuple[str, dict, int]] = [
        ("message_start", {"type": "message_start", "message": start}, 0),
        # Vertex-only, seen early with the opening usage; clients must ignore it
        # (the Anthropic SDK passes it through and its accumulator skips it).
        ("vertex_event", {"type": "vertex_event", "usage": dict(start["usage"])}, 0),
    ]
    for index, block in enumerate(message["content"]):
        opened = {
            "text": {"type": "text", "text": ""},
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "tool_use": dict(block, input={}),
        }.get(block["type"], block)
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
                0,
            )
        )
        if index == 0:
            events.append(("ping", {"type": "ping"}, 0))  # where Anthropic's own streams send it
        events += _deltas(index, block, chunk_tokens)
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}, 0))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            0,
        )
    )
    events.append(("message_stop", {"type": "message_stop"}, 0))
    return events


def sse(event: str, data: dict) -> bytes:
    """One SSE frame with its `event:` line (the SDK drops data-only events)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def sse_body(message: dict) -> bytes:
    """The whole `text/event-stream` body Vertex sends for `message`."""
    return b"".join(sse(name, data) for name, data, _ in stream_events(message))


# -- scripted replies -----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the simulator answers: HTTP `status` and JSON `payload` (a Message or an error body)."""

    status: int
    payload: dict


def _request_text(body: dict) -> str:
    system = body.get("system")
    parts: list[str] = [system if isinstance(system, str) else ""]
    if isinstance(system, list):
        parts += [str(b.get("text", "")) for b in system if isinstance(b, dict)]
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(b.get("text", "")) for b in content if isinstance(b, dict)]
    return "\n".join(parts)


class Simulator:
    """`reply()` plus optional scripted replies: JSONL lines of `{match, reply | error}`.

    `match`: `{"custom_id": "row-1"}` and/or `{"contains": "text in system or messages"}`
    (all given keys must match). `reply`: keys merged over the simulated Message;
    `{"text": "..."}` replaces the content with one text block. `error`:
    `{"status": 529, "body": {...}}` is answered as is.
    """

    def __init__(self, scripts: list[dict] | None = None, answer_faults: dict[str, float] | None = None):
        self.scripts = list(scripts or ())
        self.answer_faults = {k: float(v) for k, v in (answer_faults or {}).items() if v}

    @classmethod
    def from_config(cls, config) -> Simulator:
        """From a ServerConfig: its scripted replies and its answer faults."""
        simulator = cls.from_file(config.scripted_replies)
        simulator.answer_faults = {k: float(v) for k, v in (config.answer_faults or {}).items() if v}
        return simulator

    @classmethod
    def from_file(cls, path: str | Path | None) -> Simulator:
        if not path:
            return cls()
        from runner.errors import ConfigError

        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(
                f"cannot read scripted replies: {exc.strerror}",
                where=str(path),
                hint="set scripted_replies to a JSONL file, or remove it",
            ) from None
        scripts = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"invalid JSON: {exc}", where=f"{path}:{number}") from None
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("match"), dict)
                or ("reply" in entry) == ("error" in entry)
            ):
                raise ConfigError(
                    "each line needs `match` and exactly one of `reply`, `error`", where=f"{path}:{number}"
                )
            scripts.append(entry)
        return cls(scripts)

    def _script_for(self, body: dict, custom_id: str | None) -> dict | None:
        text = None
        for entry in self.scripts:
            match = entry["match"]
            if "custom_id" in match and match["custom_id"] != custom_id:
                continue
            if "contains" in match:
                text = _request_text(body) if text is None else text
                if match["contains"] not in text:
                    continue
            return entry
        return None

    def respond(self, body: dict, model: str, custom_id: str | None = None) -> Outcome:
        if "output_config" in body or "tools" in body:
            from runner.local.structured import check_structured

            refused = check_structured(body, model)
            if refused is not None:
                return Outcome(400, refused)
        entry = self._script_for(body, custom_id) if self.scripts else None
        if entry is None:
            message = reply(body, model)
            if self.answer_faults:
                from runner.local.structured import spoil_answer

                spoil_answer(message, body, self.answer_faults)
            return Outcome(200, message)
        if "error" in entry:
            error = entry["error"]
            return Outcome(int(error.get("status", 500)), error.get("body") or {})
        message = reply(body, model)
        override = dict(entry["reply"])
        if "text" in override:
            text = str(override.pop("text"))
            message["content"] = [{"type": "text", "text": text}]
            message["usage"]["output_tokens"] = len(_TOKEN_RE.findall(text))
        message.update(override)
        return Outcome(200, message)
