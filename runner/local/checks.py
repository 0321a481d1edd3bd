"""The checks Vertex and Anthropic make on a Messages body, with their exact error texts.

Shared by the online routes and the batch engine (which turns a `Reject` into
a row's `status`). Errors are in Anthropic's shape: `{"type": "error",
"error": {"type": "invalid_request_error", "message": ...}}`.
"""

from __future__ import annotations

import re

from runner.local.faults import anthropic_error

ANTHROPIC_VERSION = "vertex-2023-10-16"
# anthropic[vertex] 2.x sends its API date (e.g. "2026-10-21") instead of the vertex-* value.
DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Reject(Exception):
    """Answer the request with `status` and the JSON `body`."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status = status
        self.body = body


def invalid(message: str) -> Reject:
    return Reject(400, anthropic_error("invalid_request_error", message))


def check_model_limits(body: dict, input_tokens: int, entry) -> None:
    """The model's output and context limits (catalog `ModelInfo`), in Anthropic's words."""
    if entry is None:
        return
    if body["max_tokens"] > entry.max_output_tokens:
        raise invalid(
            f"max_tokens: {body['max_tokens']} > {entry.max_output_tokens}, which is the "
            f"maximum allowed number of output tokens for {entry.id}"
        )
    if input_tokens > entry.context_window:
        raise invalid(f"prompt is too long: {input_tokens} tokens > {entry.context_window} maximum")


def _validate_thinking(body: dict, count_only: bool) -> None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise invalid("thinking.enabled.budget_tokens: Field required")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise invalid("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        raise invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if not count_only and body["max_tokens"] <= budget:
        raise invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
            "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size"
        )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")


def validate_messages_body(body: dict, *, count_only: bool = False) -> None:
    """Vertex's and Anthropic's checks on a Messages body; raises Reject(400) in Anthropic's shape."""
    version = body.get("anthropic_version")
    if version is None:
        raise invalid("anthropic_version: Field required")
    if not isinstance(version, str) or not (version == ANTHROPIC_VERSION or DATED_VERSION.match(version)):
        raise invalid(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
    if not count_only:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise invalid("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise invalid("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            raise invalid(f"messages.{i}.content: Field required")
        if not isinstance(content, (str, list)):
            raise invalid(f"messages.{i}.content: Input should be a valid string or list")
    _validate_thinking(body, count_only)
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        if choice.get("name") not in names:
            raise invalid(f"Tool '{choice.get('name')}' not found in provided tools")
