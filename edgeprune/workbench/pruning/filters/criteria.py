"""Filter-importance criteria, one small interface: scores per output channel, higher = more important.

They see only numbers (the layer's kernel, the following BatchNorm's gamma), never the graph: the surgery that
removes channels lives in ``surgery``, as Torch-Pruning keeps importance apart from dependency handling.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ....errors import UserError


@dataclass
class ChannelInfo:
    kernel: np.ndarray  # Conv2D (kh, kw, cin, cout) or Dense (in, out): output channels on the last axis
    bn_gamma: np.ndarray | None  # gamma of the BatchNorm right after, if any
    rng: np.random.Generator


class Criterion(Protocol):
    name: str

    def scores(self, info: ChannelInfo) -> np.ndarray: ...


def _per_output(kernel: np.ndarray) -> np.ndarray:
    return kernel.reshape(-1, kernel.shape[-1])


class L1:
    name = "l1"

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return np.abs(_per_output(info.kernel)).sum(axis=0)


class L2:
    name = "l2"

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return np.sqrt((_per_output(info.kernel) ** 2).sum(axis=0))


class BNScale:
    """|gamma| of the following BatchNorm (network slimming); falls back to L1 where no BatchNorm follows."""

    name = "bn"

    def scores(self, info: ChannelInfo) -> np.ndarray:
        if info.bn_gamma is None:
            return L1().scores(info)
        return np.abs(info.bn_gamma)


class Random:
    """A control: if random choice does as well, the criterion does not matter for this model."""

    name = "random"

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return info.rng.random(info.kernel.shape[-1])


CRITERIA: dict[str, Criterion] = {c.name: c for c in (L1(), L2(), BNScale(), Random())}


def get(name: str) -> Criterion:
    if name not in CRITERIA:
        raise UserError(f"unknown --criterion {name!r}; choose one of {', '.join(CRITERIA)}")
    return CRITERIA[name]
