"""The kept-column join of batch results: exact by custom_id, in any order, whichever way it runs."""

from __future__ import annotations

import orjson
import pytest

from runner.batch import kept as kept_module
from runner.batch.kept import SORTED_MAX_ROWS, attach_kept
from runner.records import ResultRow


def _pairs(n: int):
    for i in range(n):
        yield f"id-{i}", orjson.dumps({"product": f"p{i}", "n": i})


def _rows(n: int, extra: int = 0):
    order = [(i * 37) % n for i in range(n)]  # shuffled: outputs come in any order
    return [ResultRow(f"id-{i}", "succeeded") for i in order] + [
        ResultRow(f"unknown-{j}", "errored") for j in range(extra)
    ]


@pytest.mark.parametrize(
    ("estimate", "in_memory"),
    [(0, kept_module.IN_MEMORY_MAX_BYTES), (0, 1000), (SORTED_MAX_ROWS + 1, 0)],
    ids=["sorted-hashes-in-memory", "sorted-hashes-spilled-to-a-file", "sqlite"],
)
def test_every_row_gets_its_own_kept_values_and_unknown_ids_none(estimate, in_memory, monkeypatch, tmp_path):
    monkeypatch.setattr(kept_module, "IN_MEMORY_MAX_BYTES", in_memory)
    rows = list(attach_kept(_rows(2000, extra=3), _pairs(2000), workdir=str(tmp_path), estimate=estimate))
    assert len(rows) == 2003
    for row in rows:
        if row.custom_id.startswith("unknown"):
            assert row.kept is None
        else:
            i = int(row.custom_id.split("-")[1])
            assert row.kept == {"product": f"p{i}", "n": i}


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "spilled-to-a-file"])
def test_ids_whose_hashes_collide_are_told_apart_exactly(in_memory, monkeypatch, tmp_path):
    monkeypatch.setattr(kept_module, "hash", lambda value: 7, raising=False)  # every id collides
    if not in_memory:
        monkeypatch.setattr(kept_module, "IN_MEMORY_MAX_BYTES", 100)
    rows = list(attach_kept(_rows(50), _pairs(50), workdir=str(tmp_path)))
    assert all(row.kept == {"product": f"p{row.custom_id[3:]}", "n": int(row.custom_id[3:])} for row in rows)


def test_no_kept_values_leaves_rows_as_they_are(tmp_path):
    rows = list(attach_kept(_rows(5), iter(()), workdir=str(tmp_path)))
    assert [r.kept for r in rows] == [None] * 5


def test_kept_pairs_with_byte_ids_join_like_str_ids(tmp_path):
    pairs = ((custom_id.encode(), value) for custom_id, value in _pairs(20))
    rows = list(attach_kept(_rows(20), pairs, workdir=str(tmp_path)))
    assert all(row.kept == {"product": f"p{row.custom_id[3:]}", "n": int(row.custom_id[3:])} for row in rows)


@pytest.mark.parametrize(
    ("line", "pair"),
    [
        (b'{"custom_id":"t-1","kept":{"product":"Atlas"}}', (b"t-1", b'{"product":"Atlas"}')),
        (b'{"custom_id":"a\\"b","kept":{"n":1}}', (b'a"b', b'{"n":1}')),
        (b'{"custom_id":"a\\u0062","kept":{"n":1}}', (b"ab", b'{"n":1}')),
        (b'{"kept": {"n": 2}, "custom_id": "z"}', (b"z", b'{"n":2}')),
    ],
    ids=["our-own-line-sliced", "quote-in-id-parsed", "escape-in-id-parsed", "other-key-order-parsed"],
)
def test_a_kept_line_gives_its_exact_custom_id_and_values(line, pair):
    from runner.batch.readback import _kept_pair

    assert _kept_pair(line) == pair
