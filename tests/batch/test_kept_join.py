"""The kept-column join of batch results: exact by custom_id, in any order, whichever way it runs."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from runner.batch import collect as collect_module
from runner.batch import kept as kept_module
from runner.batch.collect import STREAMING_MAX_ROWS, JoinStats, join_results, keyed_lines
from runner.batch.kept import KeptSlots, kept_line, kept_pair
from runner.records import ResultRow


def _pairs(n: int):
    for i in range(n):
        yield f"id-{i}", orjson.dumps({"product": f"p{i}", "n": i})


def _blocks(pairs, per: int = 700):
    """Kept lines as a `.kept` object holds them, in blocks of whole lines."""
    lines = [kept_line(custom_id, values) for custom_id, values in pairs]
    return [b"\n".join(lines[i : i + per]) + b"\n" for i in range(0, len(lines), per)]


def _line(custom_id: str) -> bytes:
    return orjson.dumps({"custom_id": custom_id, "response": {"content": []}, "status": ""})


def _outputs(n: int, *, missing: int, unknown: int) -> list[bytes]:
    """Output lines of n expected ids, shuffled, `missing` of them never written, plus `unknown`
    lines of ids never submitted."""
    order = [(i * 37) % n for i in range(n)]  # shuffled: outputs come in any order
    return [_line(f"id-{i}") for i in order if i >= missing] + [_line(f"unknown-{j}") for j in range(unknown)]


def _join(n: int, blocks, tmp_path, *, unknown: int = 0, missing: int = 0, estimate: int = 0):
    """join_results over `_outputs` with `blocks` of kept lines."""
    return list(
        join_results(
            [keyed_lines(_outputs(n, missing=missing, unknown=unknown))],
            lambda: (f"id-{i}".encode() for i in range(n)),
            estimate=estimate,
            workdir=str(tmp_path),
            kept=lambda: blocks,
        )
    )


def _own_values(row: ResultRow) -> bool:
    i = int(row.custom_id.split("-")[1])
    return row.kept == {"product": f"p{i}", "n": i}


@pytest.mark.parametrize(
    ("estimate", "in_memory"),
    [(0, kept_module.IN_MEMORY_MAX_BYTES), (0, 1000), (STREAMING_MAX_ROWS + 1, 0)],
    ids=["join-index-lines-in-memory", "join-index-lines-spilled-to-a-file", "sqlite-beyond-the-index"],
)
def test_every_row_gets_its_own_kept_values_missing_rows_too(estimate, in_memory, monkeypatch, tmp_path):
    monkeypatch.setattr(kept_module, "IN_MEMORY_MAX_BYTES", in_memory)
    rows = _join(9000, _blocks(_pairs(9000)), tmp_path, unknown=3, missing=40, estimate=estimate)
    assert len(rows) == 9000 == len({r.custom_id for r in rows})
    assert sum(r.error is not None and r.error["type"] == "missing" for r in rows) == 40
    assert all(_own_values(row) for row in rows)


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "spilled-to-a-file"])
def test_a_kept_line_of_another_id_on_a_rows_slot_is_never_taken_for_it(in_memory, monkeypatch, tmp_path):
    if not in_memory:
        monkeypatch.setattr(kept_module, "IN_MEMORY_MAX_BYTES", 100)
    # Every id lands on slot 0, as ids whose 64-bit hashes collide would: the last line placed wins it.
    slots = KeptSlots.placed(lambda keys: [0] * len(keys), 1, _blocks(_pairs(50), per=7), str(tmp_path))
    try:
        rows = [ResultRow(f"id-{i}", "succeeded") for i in range(50)]
        values = slots.values([row.custom_id.encode() for row in rows], np.zeros(50, np.int64))
        for row, value in zip(rows, values):
            row.kept = value
    finally:
        slots.close()
    assert all(_own_values(row) for row in rows)


def test_ids_without_kept_values_get_none(tmp_path):
    pairs = [(f"id-{i}", orjson.dumps({"product": f"p{i}", "n": i})) for i in range(0, 30, 2)]
    rows = _join(30, _blocks(pairs), tmp_path)
    assert all(_own_values(r) if int(r.custom_id[3:]) % 2 == 0 else r.kept is None for r in rows)


def test_no_kept_values_leaves_rows_as_they_are(tmp_path):
    assert [r.kept for r in _join(5, [], tmp_path)] == [None] * 5


def test_kept_lines_in_another_form_or_blank_join_like_staged_ones(tmp_path):
    staged = _blocks(_pairs(40), per=40)[0].splitlines()
    other = [
        b'{"kept": {"product": "p3", "n": 3}, "custom_id": "id-3"}',  # other key order, spaces
        b'{"custom_id":"id\\u002d5","kept":{"product":"p5","n":5}}',  # an escape in the id
        b"   ",
        b'{"custom_id": "id-7", "kept": {"product": "p7", "n": 7}}',
    ]
    lines = [line for i, line in enumerate(staged) if i not in (3, 5, 7)] + other
    block = b"\n".join(lines)  # and no final newline
    assert all(_own_values(row) for row in _join(40, [block], tmp_path))


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
    assert kept_pair(line) == pair


def _join_named_by_kept(n: int, blocks, tmp_path, *, missing: int = 0, unknown: int = 0):
    """`_join` with the kept lines naming every expected id; (rows, times the expected ids were read)."""
    reads = []

    def expected():
        reads.append(1)
        return (f"id-{i}".encode() for i in range(n))

    stats = JoinStats()
    rows = list(
        join_results(
            [keyed_lines(_outputs(n, missing=missing, unknown=unknown))],
            expected,
            workdir=str(tmp_path),
            stats=stats,
            kept=lambda: blocks,
            kept_names_every_id=True,
        )
    )
    return rows, len(reads), stats


@pytest.mark.parametrize("in_memory", [True, False], ids=["lines-in-memory", "lines-spilled-to-a-file"])
def test_kept_lines_that_name_every_id_are_the_index_and_the_ids_are_never_read(
    in_memory, monkeypatch, tmp_path
):
    if not in_memory:
        monkeypatch.setattr(kept_module, "IN_MEMORY_MAX_BYTES", 1000)
    rows, reads, stats = _join_named_by_kept(9000, _blocks(_pairs(9000)), tmp_path, missing=40, unknown=3)
    assert reads == 0
    assert len(rows) == 9000 == len({r.custom_id for r in rows}) == stats.expected
    assert (stats.missing, stats.unknown) == (40, 3)
    missing = {r.custom_id for r in rows if r.error is not None and r.error["type"] == "missing"}
    assert missing == {f"id-{i}" for i in range(40)}
    assert all(_own_values(row) for row in rows)


def test_kept_lines_that_repeat_an_id_fall_back_to_reading_the_ids(tmp_path):
    pairs = list(_pairs(300))
    rows, reads, stats = _join_named_by_kept(300, _blocks(pairs + pairs[:5]), tmp_path, missing=4)
    assert reads >= 1
    assert len(rows) == 300 == len({r.custom_id for r in rows}) == stats.expected
    assert stats.missing == 4
    assert all(_own_values(row) for row in rows)


def test_more_kept_lines_than_the_index_takes_join_by_partitions(monkeypatch, tmp_path):
    monkeypatch.setattr(collect_module, "STREAMING_MAX_ROWS", 100)
    rows, reads, stats = _join_named_by_kept(900, _blocks(_pairs(900)), tmp_path, missing=7)
    assert reads >= 1
    assert len(rows) == 900 == len({r.custom_id for r in rows}) == stats.expected
    assert stats.missing == 7
    assert all(_own_values(row) for row in rows)


@pytest.mark.parametrize(
    "named_by_kept", [True, False], ids=["kept-lines-are-the-index", "ids-are-the-index"]
)
def test_ids_outside_the_custom_id_rule_still_join_exactly(named_by_kept, tmp_path):
    ids = ['a"quote', "back\\slash", "plain-1", "dot.ted"]
    kept = {cid: {"n": i} for i, cid in enumerate(ids)}
    block = b"\n".join(orjson.dumps({"custom_id": cid, "kept": kept[cid]}) for cid in ids) + b"\n"
    outputs = [orjson.dumps({"custom_id": cid, "response": {"content": []}, "status": ""}) for cid in ids[2:]]
    rows = list(
        join_results(
            [keyed_lines(outputs)],
            lambda: (cid.encode() for cid in ids),
            workdir=str(tmp_path),
            kept=lambda: [block],
            kept_names_every_id=named_by_kept,
        )
    )
    assert {r.custom_id: r.kept for r in rows} == kept
    assert sorted(r.custom_id for r in rows if r.error and r.error["type"] == "missing") == sorted(ids[:2])


def test_a_kept_line_is_json_whatever_its_id():
    for cid in ('a"b', "c\\d", "e\nf", "plain_ID-9"):
        assert kept_pair(kept_line(cid, b'{"n":1}')) == (cid.encode(), b'{"n":1}')
        assert orjson.loads(kept_line(cid, b'{"n":1}')) == {"custom_id": cid, "kept": {"n": 1}}
