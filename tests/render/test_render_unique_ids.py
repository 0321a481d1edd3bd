"""custom_id uniqueness over more ids than the exact window holds."""

from __future__ import annotations

import pytest

from runner.errors import SpecError
from runner.render.custom_ids import UniqueIds


def _run(ids, window=4):
    unique = UniqueIds(lambda: ((c, i + 1) for i, c in enumerate(ids)), lambda n: f"in:{n}", window=window)
    for i, custom_id in enumerate(ids):
        unique.add(custom_id, i + 1)
    unique.finish()
    return unique


def test_many_distinct_ids_pass_and_are_all_counted():
    assert len(_run([f"id-{i}" for i in range(1000)], window=16)) == 1000


def test_duplicate_within_the_window_is_caught_at_once_naming_both_positions():
    unique = UniqueIds(lambda: iter(()), lambda n: f"in:{n}", window=100)
    unique.add("a", 1)
    with pytest.raises(SpecError, match=r"^in:2: custom_id 'a' is not unique: also at in:1"):
        unique.add("a", 2)


def test_duplicate_far_apart_is_caught_and_names_both_positions():
    ids = [f"id-{i}" for i in range(50)] + ["id-3"]
    with pytest.raises(SpecError, match=r"^in:51: custom_id 'id-3' is not unique: also at in:4"):
        _run(ids)


def test_duplicate_in_the_last_partial_window_is_caught_by_finish():
    ids = [f"id-{i}" for i in range(9)] + ["id-0"]  # 10 ids, window 4: the last 2 unarchived
    with pytest.raises(SpecError, match="'id-0' is not unique"):
        _run(ids)


class _SameHash(str):
    def __hash__(self):
        return 12345


def test_a_hash_collision_between_distinct_ids_is_not_a_duplicate():
    ids = [_SameHash("first"), "b", "c", "d", _SameHash("second"), "f", "g", "h"]
    assert len(_run(ids)) == 8


def test_a_real_duplicate_with_colliding_neighbours_is_still_caught():
    ids = [_SameHash("first"), "b", "c", "d", _SameHash("other"), _SameHash("first"), "g", "h"]
    with pytest.raises(SpecError, match=r"^in:6: custom_id 'first' is not unique: also at in:1"):
        _run(ids)
