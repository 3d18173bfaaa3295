"""Intervals for timings: the bootstrap over rounds. numpy only (the device side).

A round benches every file once, each in a fresh process, so the spread between rounds holds what a single call
hides: the process, the cache state, what else the machine was doing. A file's latency is the median of its round
medians; a speed-up is the median of the per-round ratios against the reference (paired: both measured in the same
round), with a percentile bootstrap over rounds for the 95 % interval.
"""
from __future__ import annotations

import numpy as np

LEVEL = 0.95
RESAMPLES = 4000


def bootstrap_ci(values, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``values`` (the value itself when there is one)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        raise ValueError("no values")
    if len(v) == 1:
        return float(v[0]), float(v[0])
    idx = np.random.default_rng(seed).integers(0, len(v), (resamples, len(v)))
    stats = np.median(v[idx], axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def paired_ratios(base: list[float], other: list[float]) -> list[float]:
    """base / other, round by round (a speed-up of ``other`` over ``base``)."""
    return [b / o for b, o in zip(base, other) if b and o]


def resolved(ci: tuple[float, float]) -> bool:
    """A speed-up is resolved when its interval excludes 1.0."""
    return not (ci[0] <= 1.0 <= ci[1])
