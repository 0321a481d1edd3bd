"""The one Jinja2 environment for job templates: validation and rendering both use it.

Sandboxed (no attribute tricks reach Python internals), `StrictUndefined` (an undefined
variable is an error, never an empty string), no autoescaping (prompts are not HTML), and
`keep_trailing_newline` (a YAML block scalar's final newline stays, as in constant strings).
`spec/` checks templates and `render/` renders them with this same environment, so the two
can never disagree about what a template means.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


@cache
def template_environment() -> SandboxedEnvironment:
    """The shared sandboxed environment (built once; Jinja2 is imported on first use)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
