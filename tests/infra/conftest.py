"""Fixtures: the Pulumi program run under mocks with a minimal and with a fully pinned config."""

from __future__ import annotations

import pytest
from infra_harness import BASE_CONFIG, PROJECT, PlatformRun, ensure_event_loop, run_program


@pytest.fixture(scope="module")
def platform() -> PlatformRun:
    """The program with the smallest valid config: defaults everywhere else."""
    return run_program(**BASE_CONFIG)


@pytest.fixture(scope="module")
def pinned_platform() -> PlatformRun:
    """The program with numeric GitHub ids, CMEK, labels and table expiration set."""
    return run_program(
        **BASE_CONFIG,
        githubRepositoryId="700000001",
        githubRepositoryOwnerId="800000002",
        kmsKeyName=f"projects/{PROJECT}-kms/locations/us-east5/keyRings/claude/cryptoKeys/batch",
        labels='["team=ml-platform","env=prod"]',
        tableExpirationDays="14",
        retentionDays="10",
        noncurrentRetentionDays="3",
    )


@pytest.fixture(autouse=True)
def _event_loop_for_pulumi():
    """Each infra test gets a live current loop, whatever async tests ran before it."""
    ensure_event_loop()
