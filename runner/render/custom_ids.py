"""The custom_id rule, and uniqueness over millions of ids in a few bytes each.

Vertex documents no rule; Anthropic's batches use `^[a-zA-Z0-9_-]{1,64}$`,
unique per batch, and so do we. `UniqueIds` keeps the last `window` ids as
strings (exact, reported before the duplicate is used) and everything older
as sorted arrays of 64-bit hashes (8 bytes an id). A new window is checked
against the arrays in one vectorized step when it fills up and when the input
ends, so a duplicate further apart than `window` rows is reported at most
`window` rows late. A hash match is confirmed exactly by re-reading the
earlier ids (`rescan`), which also names where the first one was.

The hash is Python's own string hash: SipHash keyed per process, so ids
cannot be crafted to collide, and it is already cached on the string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from runner.errors import SpecError

CUSTOM_ID_RULE = "^[a-zA-Z0-9_-]{1,64}$"
WINDOW = 32_768
LEVEL_CAP = 131_072  # ids per sorted array: merges never allocate more than 1 MB at once
id_ok = re.compile(r"[a-zA-Z0-9_-]{1,64}").fullmatch


def check_custom_id(custom_id: Any, where: str) -> str:
    """`custom_id` if it follows the rule, else a SpecError located at `where`."""
    if type(custom_id) is not str or not id_ok(custom_id):
        raise SpecError(
            f"custom_id {custom_id!r} does not match {CUSTOM_ID_RULE}",
            where=where,
            hint="use 1-64 letters, digits, '_' or '-'",
        )
    return custom_id


class UniqueIds:
    """Adds ids in input order; raises SpecError on the first duplicate it can prove.

    `rescan()` yields `(custom_id, n)` for the input from the start, in the same
    order as `add` was called; `locate(n)` names a position for messages.
    """

    def __init__(
        self,
        rescan: Callable[[], Iterable[tuple[Any, Any]]],
        locate: Callable[[Any], str],
        window: int | None = None,
    ):
        self.rescan = rescan
        self.locate = locate
        self.window = window or WINDOW
        self.recent: dict[str, Any] = {}
        self.levels: list = []  # sorted int64 arrays, at most LEVEL_CAP each
        self.archived = 0  # ids held in `levels`

    def add(self, custom_id: str, n: Any) -> None:
        recent = self.recent
        if custom_id in recent:
            raise self._duplicate(custom_id, recent[custom_id], n)
        recent[custom_id] = n
        if len(recent) >= self.window:
            self.archive()

    def finish(self) -> None:
        """Check the last window against older ids; call once the input is exhausted."""
        if self.levels and self.recent:
            self.archive()

    def __len__(self) -> int:
        return self.archived + len(self.recent)

    def _duplicate(self, custom_id: str, first: Any, again: Any) -> SpecError:
        return SpecError(
            f"custom_id {custom_id!r} is not unique: also at {self.locate(first)}",
            where=self.locate(again),
            hint="every custom_id must be unique in the input",
        )

    def archive(self) -> None:
        """Move the window into the hash arrays, checking it against them first."""
        import numpy as np

        ids = list(self.recent)
        hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        hit = np.zeros(len(hashes), dtype=bool)
        for level in self.levels:
            at = np.minimum(np.searchsorted(level, hashes), len(level) - 1)
            hit |= level[at] == hashes
        if hit.any():
            self._confirm({ids[i]: self.recent[ids[i]] for i in order[hit]})
        self.levels.append(hashes)
        # Merge equal-sized runs (like a binary counter) up to LEVEL_CAP: few arrays to probe,
        # and no large temporary copies (peak memory stays ~8 bytes an id).
        while (
            len(self.levels) > 1
            and len(self.levels[-1]) >= len(self.levels[-2])
            and len(self.levels[-1]) + len(self.levels[-2]) <= LEVEL_CAP
        ):
            top, below = self.levels.pop(), self.levels.pop()
            merged = np.concatenate((below, top))
            merged.sort(kind="stable")  # two sorted runs: a linear merge
            self.levels.append(merged)
        self.archived += len(ids)
        self.recent.clear()

    def _confirm(self, candidates: dict[str, Any]) -> None:
        """Re-read the archived ids: a real duplicate raises, a hash collision passes."""
        for count, (custom_id, n) in enumerate(self.rescan()):
            if count >= self.archived:
                return
            if custom_id in candidates:
                raise self._duplicate(custom_id, n, candidates[custom_id])
