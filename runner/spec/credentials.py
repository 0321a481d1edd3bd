"""No credentials in a spec: keys and values that look like secrets are errors (never echoed back)."""

from __future__ import annotations

import re
from typing import Any

from runner.spec.context import Context

_SECRET_KEYS = {
    "private_key",
    "private_key_id",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "client_secret",
    "password",
    "passwd",
    "credentials",
    "credential",
    "auth_token",
    "bearer_token",
    "secret_access_key",
    "aws_secret_access_key",
    "service_account_key",
}
_SECRET_VALUES = [
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("a service account key", re.compile(r'"type"\s*:\s*"service_account"')),
    ("a Google OAuth access token", re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
]
HINT = (
    "remove it and rotate it; runs authenticate with Application Default Credentials "
    "or Workload Identity Federation"
)


def check_credentials(ctx: Context) -> None:
    _walk(ctx, ctx.loaded.data, ())


def _walk(ctx: Context, value: Any, path: tuple) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            normalized = key.strip().lower().replace("-", "_") if isinstance(key, str) else ""
            # Only a key holding text can hold a secret: `password: {type: string}` in a tool's
            # input_schema describes a parameter, it is not one.
            if normalized in _SECRET_KEYS and isinstance(item, str | int) and str(item).strip():
                ctx.error(
                    path + (key,),
                    f"{key!r} looks like a credential: credentials must never be written in a spec",
                    "credentials",
                    HINT,
                    key=True,
                )
                continue
            _walk(ctx, item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(ctx, item, path + (index,))
    elif isinstance(value, str) and len(value) >= 20:
        for what, pattern in _SECRET_VALUES:
            if pattern.search(value):
                ctx.error(
                    path,
                    f"this value looks like {what}: credentials must never be written in a spec",
                    "credentials",
                    HINT,
                )
                return
