"""The platform's Pulumi stack outputs, as validate needs them.

One reader for the whole runner: `runner/platform.py` (files and CLAUDE_JOBS_* variables).
"""

from __future__ import annotations

from ..platform import REQUIRED, StackOutputs, load_stack_outputs

__all__ = ["REQUIRED", "StackOutputs", "load_stack_outputs"]
