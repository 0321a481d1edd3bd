"""The records that flow between steps: a rendered request and its result, and a run's options and summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["succeeded", "errored"]


@dataclass(frozen=True, slots=True)
class Request:
    """One Vertex request: the Anthropic Messages body without `model`, images already base64.

    `kept`: the source row's values of the spec's `output.keep` columns, which travel with
    the request to its result (stream mode); None when the spec keeps none.
    """

    custom_id: str
    body: dict[str, Any]
    kept: dict[str, Any] | None = None


@dataclass(slots=True)
class ResultRow:
    """The outcome of one custom_id, whatever the mode; joined to inputs by custom_id only."""

    custom_id: str
    status: Status
    response: dict[str, Any] | None = None  # the Anthropic Message JSON
    error: dict[str, Any] | None = None  # {"type", "message", "code"} when errored
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    attempts: int = 1
    latency_ms: float | None = None
    processed_time: str | None = None  # RFC 3339
    mode: str = "stream"
    # Shaped by runner.dataio.results (the one place that reads answers):
    answer: dict[str, Any] | None = None  # the typed answer's fields (output.schema), checked
    text: str | None = None  # the answer's text, for jobs without output.schema
    kept: dict[str, Any] | None = None  # the source row's kept columns (output.keep)
    model: str | None = None  # the model that answered

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "custom_id": self.custom_id,
            "status": self.status,
            "response": self.response,
            "error": self.error,
            "stop_reason": self.stop_reason,
            "usage": self.usage,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "processed_time": self.processed_time,
            "mode": self.mode,
            "answer": self.answer,
            "text": self.text,
            "kept": self.kept,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRow:
        return cls(
            custom_id=data["custom_id"],
            status=data["status"],
            response=data.get("response"),
            error=data.get("error"),
            stop_reason=data.get("stop_reason"),
            processed_time=data.get("processed_time"),
            latency_ms=data.get("latency_ms"),
            answer=data.get("answer"),
            text=data.get("text"),
            kept=data.get("kept"),
            model=data.get("model"),
            usage=data.get("usage") or {},
            attempts=data.get("attempts") or 1,
            mode=data.get("mode") or "stream",
        )


@dataclass(frozen=True)
class RunOptions:
    retry_failed: bool = False  # also re-send rows that errored last time
    restart: bool = False  # the spec changed: discard the old state and start over
    cancel_on_interrupt: bool = False  # batch: Ctrl-C cancels the job instead of leaving it running
    wait: bool = True  # batch: wait for a terminal state and collect results
    progress: bool = True  # live progress display on stderr
    state: str | None = None  # the state location (gs://bucket/prefix); None: the local state folder
    wait_lock: float = 0.0  # seconds to wait for another run of the spec to release its lock
    implicit_restart: bool = False  # apply restarts a changed spec: that never takes a destination over

    @property
    def take_over(self) -> bool:
        """`run --restart`: also take the destination over from another spec."""
        return self.restart and not self.implicit_restart


@dataclass
class RunSummary:
    """What a run did; printed as text or JSON and mapped to the exit code."""

    spec: str
    mode: str
    target: str
    total: int = 0
    succeeded: int = 0
    errored: int = 0
    skipped: int = 0  # already finished in an earlier run
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    destination: str = ""
    jobs: list[str] = field(default_factory=list)  # batch job resource names
    state: str = "done"  # done | submitted | running | failed | ...
    elapsed_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def collected(self) -> bool:
        """False while batch jobs run (stuck, timed out, not waited for): no rows counted yet."""
        return self.state not in ("stuck", "timeout", "submitted", "running")

    @property
    def ok(self) -> bool:
        return self.errored == 0 and self.state in ("done", "submitted", "running")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
