"""Rendering is streamed: memory does not grow with the number of rows."""

from __future__ import annotations

import tracemalloc

import orjson
from render_helpers import file_source, template_spec

from runner.render.requests import render_requests

TEXT = "lorem ipsum " * 20


def _peak_bytes(repo, rows: int) -> int:
    with open(repo / "data" / f"rows-{rows}.jsonl", "wb") as fh:
        for i in range(rows):
            fh.write(orjson.dumps({"id": i, "text": TEXT}) + b"\n")
    spec = template_spec(
        repo,
        file_source(repo, f"../data/rows-{rows}.jsonl"),
        [{"role": "user", "content": "{{ text }} #{{ id }}"}],
    )
    tracemalloc.start()
    try:
        assert sum(1 for _ in render_requests(spec)) == rows
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_rendering_four_times_the_rows_takes_about_the_same_memory(repo, monkeypatch):
    import runner.render.custom_ids as custom_ids

    monkeypatch.setattr(custom_ids, "WINDOW", 2048)
    _peak_bytes(repo, 5_000)  # imports and caches warm up outside the measure
    small, large = _peak_bytes(repo, 10_000), _peak_bytes(repo, 40_000)
    # Holding the bodies would take 4x; older ids cost 8 bytes each.
    assert large < small * 1.25, f"{small / 2**20:.1f} MB -> {large / 2**20:.1f} MB"
