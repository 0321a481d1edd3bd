"""The one Jinja2 environment for job templates: validation and rendering both use it.

Sandboxed (no attribute tricks reach Python internals), `StrictUndefined` (an undefined
variable is an error, never an empty string), no autoescaping (prompts are not HTML), and
`keep_trailing_newline` (a YAML block scalar's final newline stays, as in constant strings).
`spec/` checks templates and `render/` renders them with this same environment, so the two
can never disagree about what a template means.

Jinja's sandbox alone stops attribute escapes, but a template could still mutate the row
(`row.update(...)`), allocate gigabytes in one operation (`'a' * 1000000000`,
`'x'|center(10**9)`) or loop for hours (nested `range(100000)`). So, in addition:

- builtin lists, dicts and sets cannot be modified (Jinja's `ImmutableSandboxedEnvironment`);
- no operation may build a text or list longer than `MAX_SIZE`, nor a number of more than
  `MAX_INT_BITS` bits, no call or filter takes a size argument above `MAX_SIZE`, and no
  format width or precision has 7 digits;
- `range()` gives at most `MAX_RANGE` items;
- one render may take at most `RENDER_SECONDS`; the clock is checked on every call, filter,
  operator and attribute, and every `TICK` items of a range, so nested loops stop too.

Each bound raises `TemplateLimit`, which callers report at the template's location.
"""

from __future__ import annotations

import re
import threading
import time
from functools import cache, wraps
from typing import Any

MAX_SIZE = 1_000_000  # characters or items: more than any model's context window
MAX_INT_BITS = 4_096
MAX_RANGE = 100_000
RENDER_SECONDS = 2.0
TICK = 1_024
# A format width or precision of 7+ digits: `'%09999999d' % 1`, `'{:>9999999}'.format(1)`.
_WIDE_FORMAT = re.compile(r"%[-+ #0*]*[0-9]*\.?[0-9]{7,}|\{[^{}]*:[^{}]*[0-9]{7,}[^{}]*\}")


class TemplateLimit(Exception):
    """A template went past one of the sandbox's bounds."""


_clock = threading.local()


def _tick() -> None:
    deadline = getattr(_clock, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateLimit(f"rendering took longer than {RENDER_SECONDS:g} s (a loop too large?)")


def _size_of(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _check_args(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if type(value) is int and abs(value) > MAX_SIZE:
            raise TemplateLimit(f"argument {value} is larger than {MAX_SIZE}")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise TemplateLimit("a format width or precision is larger than 999999")


def _bounded_range(*args: int):
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(f"range() of {len(numbers)} items: at most {MAX_RANGE}")
    return _ticking(numbers)


def _ticking(numbers: range):
    for count, number in enumerate(numbers):
        if not count % TICK:
            _tick()
        yield number


def _bounded_filter(name: str, func):
    @wraps(func)  # keeps Jinja's pass_context/pass_environment marks
    def bounded(*args, **kwargs):
        _tick()
        _check_args(args, kwargs)
        if name == "format":
            for value in args:
                _check_format(value)
        return func(*args, **kwargs)

    return bounded


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _size_of(seq) and type(times) is int and _size_of(seq) * times > MAX_SIZE:
                raise TemplateLimit(f"repeating {_size_of(seq)} items {times} times is more than {MAX_SIZE}")
    elif operator == "**":
        if type(left) is int and type(right) is int and abs(left) > 1 and right > 0:
            if right * abs(left).bit_length() > MAX_INT_BITS:
                raise TemplateLimit(f"{left} ** {right} has more than {MAX_INT_BITS} bits")
    elif operator == "%":
        _check_format(left)
    elif operator == "+" and _size_of(left) + _size_of(right) > MAX_SIZE:
        raise TemplateLimit(f"joining gives more than {MAX_SIZE} characters or items")


@cache
def template_environment():
    """The shared bounded sandbox (built once; Jinja2 is imported on first use)."""
    from jinja2 import StrictUndefined, Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedTemplate(Template):
        def render(self, *args: Any, **kwargs: Any) -> str:
            outer = getattr(_clock, "deadline", None)
            _clock.deadline = time.monotonic() + RENDER_SECONDS if outer is None else outer
            try:
                text = super().render(*args, **kwargs)
            finally:
                _clock.deadline = outer
            if len(text) > MAX_SIZE:
                raise TemplateLimit(f"the rendered text is longer than {MAX_SIZE} characters")
            return text

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "%", "+"])  # also keeps them from constant folding
        template_class = BoundedTemplate

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.globals["range"] = _bounded_range
            self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

        def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
            _tick()
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(self, context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _tick()
            _check_args(args, kwargs)
            if getattr(obj, "__name__", None) in ("format", "format_map"):
                _check_format(getattr(obj, "__self__", None))
            return super().call(context, obj, *args, **kwargs)

        def getattr(self, obj: Any, attribute: str) -> Any:
            _tick()
            return super().getattr(obj, attribute)

    return BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
