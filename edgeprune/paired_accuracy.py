"""Paired accuracy comparisons: two models scored on the same images.

A run keeps which test images it got right (``test_correct``: "<n>:<base64 of the packed bits>", in the split's
order). Two such
vectors give the difference in accuracy with its paired standard error, a 95 % interval, and McNemar's exact test
on the images only one of the two got right. The paired error is smaller than the unpaired formula whenever the
two models agree on most images, which pruned models and their parents do.

numpy only: the report reads it without TensorFlow.
"""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import UserError

Z95 = 1.959964


def pack(correct) -> str:
    c = np.asarray(correct, dtype=bool).ravel()
    return f"{len(c)}:" + base64.b64encode(np.packbits(c).tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    """The bits ``pack`` wrote; anything else is a one-line error."""
    head, _, body = str(text).partition(":")
    try:
        n = int(head)
        raw = base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise UserError("test_correct is not '<n>:<base64>'; the run file was edited or damaged") from None
    if n < 0 or len(raw) != (n + 7) // 8:
        raise UserError(f"test_correct holds {8 * len(raw)} bits, not the {n} test images; the run file was edited")
    return np.unpackbits(np.frombuffer(raw, np.uint8))[:n].astype(bool)


@dataclass(frozen=True)
class PairedDifference:
    """a minus b, in accuracy (fractions)."""

    diff: float
    se: float
    ci95: tuple[float, float]
    n: int
    only_a: int  # images only a got right
    only_b: int
    mcnemar_p: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        return d

    def points(self) -> str:
        """'+1.23 ± 0.45' in percentage points, ± one standard error."""
        return f"{100 * self.diff:+.2f} ± {100 * self.se:.2f}"


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b against b + c at one half."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_difference(a, b) -> PairedDifference:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("paired comparison needs two equal-length vectors of at least 2 images")
    d = a.astype(np.float64) - b.astype(np.float64)
    n = len(d)
    diff = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n))
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    return PairedDifference(diff, se, (diff - Z95 * se, diff + Z95 * se), n, only_a, only_b, mcnemar_exact(only_a, only_b))


def compare(a_bits: str | None, b_bits: str | None) -> PairedDifference | None:
    """The paired difference of two runs' ``test_correct``, or None where either is missing or they were scored
    on different numbers of images."""
    if not a_bits or not b_bits:
        return None
    a, b = unpack(a_bits), unpack(b_bits)
    return paired_difference(a, b) if len(a) == len(b) and len(a) >= 2 else None
