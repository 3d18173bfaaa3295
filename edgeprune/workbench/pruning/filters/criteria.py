"""Filter-importance criteria, one small interface: scores per channel of a group, higher = more important.

They see only numbers (each member's weights with the group's channels on the last axis, BatchNorm gammas, Taylor
terms), never the graph: which weights belong to a group is the channel graph's business (``workbench/graph.py``),
as Torch-Pruning keeps importance apart from dependency handling. A magnitude criterion scores each member, divides
by that member's largest score and sums over the members, so a wide layer does not drown a narrow one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ....errors import UserError


@dataclass
class ChannelInfo:
    kernels: list[np.ndarray]  # per weight member (producer kernel, depthwise kernel): the group's channels last
    bn_gammas: list[np.ndarray]  # gamma of each BatchNorm in the group
    rng: np.random.Generator
    taylor: list[np.ndarray] = field(default_factory=list)  # per member: sum of |w * dL/dw| per channel

    def __post_init__(self):  # one layer's kernel and gamma, as a single chain had them, are one member each
        if isinstance(self.kernels, np.ndarray):
            self.kernels = [self.kernels]
        if self.bn_gammas is None or isinstance(self.bn_gammas, np.ndarray):
            self.bn_gammas = [] if self.bn_gammas is None else [self.bn_gammas]

    @property
    def width(self) -> int:
        return int(self.kernels[0].shape[-1] if self.kernels else self.bn_gammas[0].shape[-1])


class Criterion(Protocol):
    name: str
    needs_data: bool

    def scores(self, info: ChannelInfo) -> np.ndarray: ...


def _per_output(kernel: np.ndarray) -> np.ndarray:
    return kernel.reshape(-1, kernel.shape[-1])


def reduce_members(per_member: list[np.ndarray]) -> np.ndarray:
    """Each member's scores divided by its largest, summed over the members (one member: its scores as they are)."""
    if len(per_member) == 1:
        return np.asarray(per_member[0], dtype=np.float64)
    total = np.zeros(len(per_member[0]), dtype=np.float64)
    for s in per_member:
        s = np.asarray(s, dtype=np.float64)
        m = s.max() if len(s) else 0.0
        total += s / m if m > 0 else s
    return total


class L1:
    name = "l1"
    needs_data = False

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return reduce_members([np.abs(_per_output(k)).sum(axis=0) for k in info.kernels])


class L2:
    name = "l2"
    needs_data = False

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return reduce_members([np.sqrt((_per_output(k) ** 2).sum(axis=0)) for k in info.kernels])


class BNScale:
    """|gamma| of the group's BatchNorms (network slimming); falls back to L1 where the group has none."""

    name = "bn"
    needs_data = False

    def scores(self, info: ChannelInfo) -> np.ndarray:
        if not info.bn_gammas:
            return L1().scores(info)
        return reduce_members([np.abs(g) for g in info.bn_gammas])


class Random:
    """A control: if random choice does as well, the criterion does not matter for this model."""

    name = "random"
    needs_data = False

    def scores(self, info: ChannelInfo) -> np.ndarray:
        return info.rng.random(info.width)


class Taylor:
    """First-order Taylor (Molchanov et al.; Torch-Pruning's and HALP's): |w * dL/dw| summed over every weight of
    the group's channels (producers, consumers' inputs, depthwise kernels, BatchNorms), on a few training batches."""

    name = "taylor"
    needs_data = True

    def scores(self, info: ChannelInfo) -> np.ndarray:
        if not info.taylor:
            raise UserError("--criterion taylor needs training images (the prune and sensitivity commands pass them)")
        return np.sum(np.asarray(info.taylor, dtype=np.float64), axis=0)


CRITERIA: dict[str, Criterion] = {c.name: c for c in (L1(), L2(), BNScale(), Random(), Taylor())}


def get(name: str) -> Criterion:
    if name not in CRITERIA:
        raise UserError(f"unknown --criterion {name!r}; choose one of {', '.join(CRITERIA)}")
    return CRITERIA[name]
