"""ServerConfig: every knob of the local Vertex AI server, from flags or a YAML/JSON file.

A config file is a mapping with the same keys as `ServerConfig` (nested
sections as mappings). Unknown keys are refused so that a typo never silently
disables a fault or a quota.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from runner.errors import ConfigError

FAULT_KINDS = (
    "rate_limited",
    "overloaded",
    "server_error",
    "stream_error",
    "dropped_connection",
    "stalled_stream",
)

DEFAULT_BETAS = (
    "interleaved-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "token-efficient-tools-2025-02-19",
    "output-128k-2025-02-19",
    "fine-grained-tool-streaming-2025-05-14",
    "computer-use-2025-01-24",
    "prompt-caching-2024-07-31",
)


@dataclass
class Quota:
    """Per base model and location, per minute; None means unlimited."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None


@dataclass
class Faults:
    """Fault injection: `rates[kind]` is the probability (0..1) a predict request gets that fault.

    Kinds: rate_limited (429), overloaded (529), server_error (500),
    stream_error (SSE `error` event after HTTP 200; streams only),
    dropped_connection (transport closed mid-response), stalled_stream (the
    response stops for `stall_seconds`). One RNG seeded with `seed` draws once
    per predict request, so a given request sequence always gets the same faults.
    """

    seed: int = 0
    rates: dict[str, float] = field(default_factory=dict)
    stall_seconds: float = 30.0


@dataclass
class ServerConfig:
    # Model ids the server knows (as in the URL). None: the catalog's, or any `claude-*` id.
    models: list[str] | None = None
    # Models that exist but are "not enabled for the project": 400 FAILED_PRECONDITION.
    disabled_models: list[str] = field(default_factory=list)
    time_to_first_token: float = 0.0  # seconds before message_start of a stream
    tokens_per_second: float = 0.0  # stream pacing of output tokens; 0 = no pacing
    # Quota limits per model id ("*" = every model); absent: catalog default, else unlimited.
    quotas: dict[str, Quota] = field(default_factory=dict)
    use_catalog_quotas: bool = True
    faults: Faults = field(default_factory=Faults)
    scripted_replies: str | None = None  # JSONL of {match, reply | error}
    # Typed answers spoiled on purpose, by kind -> rate (0..1), drawn from a hash of the body:
    # invalid_json, schema_mismatch, refusal, max_tokens (runner.local.structured).
    answer_faults: dict[str, float] = field(default_factory=dict)
    supported_betas: list[str] = field(default_factory=lambda: list(DEFAULT_BETAS))
    max_body_bytes: int = 30 * 1024 * 1024
    request_log_size: int = 10_000  # entries kept for GET /_local/requests
    batch: dict[str, Any] = field(default_factory=dict)  # knobs of runner.local.batch_jobs

    # -- building -------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> ServerConfig:
        return _build(cls, data or {}, where)

    @classmethod
    def load(cls, path: str | Path | None) -> ServerConfig:
        """Read a YAML or JSON file (JSON is YAML); None gives the defaults."""
        if path is None:
            return cls()
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            reason = getattr(exc, "problem", None) or getattr(exc, "strerror", None) or exc
            raise ConfigError(
                f"cannot read the local server config: {reason}",
                where=where,
                hint="pass a YAML or JSON mapping of ServerConfig keys",
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("the local server config must be a mapping", where=str(path))
        return cls.from_dict(data, where=str(path))

    def updated(self, changes: dict[str, Any]) -> ServerConfig:
        """A copy with top-level keys replaced (nested sections replaced whole)."""
        merged = dataclasses.asdict(self)
        merged.update(changes)
        return ServerConfig.from_dict(merged, where="POST /_local/config")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@cache
def catalog_or_none():
    """The model catalog (`runner.spec.catalog`), or None when it is absent or unreadable.

    The server must start even while the catalog is missing or broken: it then
    knows every `claude-*` id and enforces no default quota. Looked up once per
    process: predict requests ask for it on every call.
    """
    import importlib.util

    if importlib.util.find_spec("runner.spec.catalog") is None:
        return None
    try:
        from runner.spec.catalog import catalog

        return catalog()
    except Exception:
        return None


def _build(cls, data: dict[str, Any], where: str):
    """Build a dataclass from a mapping, converting nested sections and refusing unknown keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping for {cls.__name__}", where=where)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)}", where=where, hint=f"valid keys: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        here = f"{where}: {name}"
        if name == "faults":
            value = _build(Faults, value or {}, here)
            bad = sorted(set(value.rates) - set(FAULT_KINDS))
            if bad:
                raise ConfigError(
                    f"unknown fault kind(s) {', '.join(bad)}",
                    where=here,
                    hint=f"kinds: {', '.join(FAULT_KINDS)}",
                )
            for kind, rate in value.rates.items():
                if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                    raise ConfigError(f"fault rate {kind}={rate!r} must be between 0 and 1", where=here)
        elif name == "answer_faults":
            from runner.local.structured import ANSWER_FAULTS

            value = dict(value or {})
            bad = sorted(set(value) - set(ANSWER_FAULTS))
            if bad:
                raise ConfigError(
                    f"unknown answer fault(s) {', '.join(bad)}",
                    where=here,
                    hint=f"kinds: {', '.join(ANSWER_FAULTS)}",
                )
            for kind, rate in value.items():
                if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                    raise ConfigError(
                        f"answer fault rate {kind}={rate!r} must be between 0 and 1", where=here
                    )
        elif name == "quotas":
            value = {
                str(model): _build(Quota, q or {}, f"{here}.{model}") for model, q in (value or {}).items()
            }
        kwargs[name] = value
    return cls(**kwargs)
