"""Stratified, seeded splits: the same files land in the same split on every machine."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

Item = tuple[str, int]


def stratified_split(
    items: Sequence[Item], fractions: Sequence[float], seed: int
) -> list[list[Item]]:
    """Split (path, label) items into len(fractions) parts, class by class.

    Items are sorted by path before shuffling, so the result depends only on the set of files and the seed,
    not on the order the file system listed them in.
    """
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError("fractions must add up to 1")
    by_class: dict[int, list[Item]] = defaultdict(list)
    for item in sorted(items):
        by_class[item[1]].append(item)
    parts: list[list[Item]] = [[] for _ in fractions]
    for label in sorted(by_class):
        members = by_class[label]
        rng = np.random.default_rng([seed, label])
        order = rng.permutation(len(members))
        n = len(members)
        # cumulative rounding keeps the counts summing to n
        bounds = np.round(np.cumsum([0.0, *fractions]) * n).astype(int)
        for k in range(len(fractions)):
            parts[k].extend(members[i] for i in order[bounds[k] : bounds[k + 1]])
    return [sorted(p) for p in parts]
