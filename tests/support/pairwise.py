"""All-pairs (pairwise) test selection: every value of each axis meets every value of every other axis in at
least one generated case. Greedy and seeded, so the selection is the same on every run."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any


def all_pairs(axes: Mapping[str, Sequence[Any]], seed: int = 0, candidates: int = 60) -> list[dict[str, Any]]:
    """Cases (axis name → value) covering every pair of values of every two axes.

    Each new case is the best of ``candidates`` seeded random ones, each completed greedily axis by axis so
    that it covers as many still-uncovered pairs as possible.
    """
    names = list(axes)
    uncovered = {
        ((a, i), (b, j))
        for a, b in itertools.combinations(names, 2)
        for i in range(len(axes[a]))
        for j in range(len(axes[b]))
    }
    rng = random.Random(seed)
    cases: list[dict[str, int]] = []

    def gain(case: dict[str, int]) -> int:
        return sum(
            ((a, case[a]), (b, case[b])) in uncovered
            for a, b in itertools.combinations(names, 2)
            if a in case and b in case
        )

    while uncovered:
        best, best_gain = None, -1
        for _ in range(candidates):
            (first, fi), (second, si) = rng.choice(sorted(uncovered))
            case = {first: fi, second: si}
            for name in rng.sample(names, len(names)):
                if name not in case:
                    case[name] = max(range(len(axes[name])), key=lambda v, n=name: (gain({**case, n: v}), rng.random()))
            g = gain(case)
            if g > best_gain:
                best, best_gain = case, g
        assert best is not None
        cases.append(best)
        uncovered -= {((a, best[a]), (b, best[b])) for a, b in itertools.combinations(names, 2)}
    return [{name: axes[name][case[name]] for name in names} for case in cases]


def covers_all_pairs(axes: Mapping[str, Sequence[Any]], cases: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``cases`` meet every pair of values of every two axes."""
    for a, b in itertools.combinations(list(axes), 2):
        seen = {(case[a], case[b]) for case in cases}
        if any((x, y) not in seen for x in axes[a] for y in axes[b]):
            return False
    return True
