"""Batch mode: Vertex batch prediction jobs from specs, idempotent, queue-aware, joined results."""

from __future__ import annotations

from runner.batch.lookup import batch_status, cancel, iter_results
from runner.batch.run import run_batch

__all__ = ["batch_status", "cancel", "iter_results", "run_batch"]
