"""Choosing which filters to keep (uniform or global scope, floors, SIMD-friendly rounding) and applying it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ....errors import UserError
from ....options.prune import check_filter_options, layer_floor
from ...graph import groups
from ...metrics.macs import count_macs
from ...tf import keras
from .criteria import ChannelInfo, get
from .surgery import remove_channels


@dataclass
class FilterPlan:
    criterion: str = "l1"
    scope: str = "uniform"  # uniform | global
    ratio: float = 0.3
    round_to: int = 1
    per_layer: dict[str, float] = field(default_factory=dict)  # from a sensitivity file; overrides ratio
    seed: int = 42

    def check(self) -> None:
        """The user's options, checked before any model is loaded."""
        check_filter_options(self.ratio, self.scope, self.round_to, self.criterion)


def round_width(n_keep: float, total: int, multiple: int, floor: int) -> int:
    """Kept width: a multiple of ``multiple`` (nearest), at least ``floor``, at most ``total``."""
    k = max(floor, int(math.ceil(n_keep - 1e-9)))
    if multiple > 1:
        k = max(multiple, int(round(k / multiple)) * multiple)
    return int(min(total, max(1, k)))


def channel_scores(model: keras.Model, criterion: str, seed: int) -> dict[str, np.ndarray]:
    crit = get(criterion)
    rng = np.random.default_rng(seed)
    out = {}
    for g in groups(model):
        layer = model.get_layer(g.producer)
        gamma = None
        if g.bn:
            bn = model.get_layer(g.bn)
            gamma = bn.gamma.numpy() if bn.scale else None
        out[g.producer] = np.asarray(crit.scores(ChannelInfo(layer.kernel.numpy(), gamma, rng)), dtype=np.float64)
    return out


def plan_keep(model: keras.Model, plan: FilterPlan) -> dict[str, np.ndarray]:
    plan.check()
    scores = channel_scores(model, plan.criterion, plan.seed)
    for name, r in plan.per_layer.items():
        if name not in scores:
            raise UserError(f"the sensitivity file names layer {name!r}, which this model does not have as a prunable layer")
        if not 0 <= r < 1:
            raise UserError(f"ratio {r} for layer {name!r} is outside [0, 1)")
    counts: dict[str, int] = {}
    if plan.scope == "uniform" or plan.per_layer:
        for name, s in scores.items():
            r = plan.per_layer.get(name, plan.ratio if not plan.per_layer else 0.0)
            counts[name] = round_width(len(s) * (1 - r), len(s), plan.round_to, layer_floor(len(s), plan.round_to))
    else:
        # rank every filter of every layer together on scores normalised per layer (divided by the layer's max)
        names = list(scores)
        norm = np.concatenate([scores[n] / (scores[n].max() if scores[n].max() > 0 else 1.0) for n in names])
        owner = np.concatenate([np.full(len(scores[n]), i) for i, n in enumerate(names)])
        n_remove = int(round(plan.ratio * len(norm)))
        left = {n: len(scores[n]) for n in names}
        floors = {n: layer_floor(len(scores[n]), plan.round_to) for n in names}
        removed = 0
        for j in np.argsort(norm, kind="stable"):
            if removed >= n_remove:
                break
            n = names[owner[j]]
            if left[n] > floors[n]:
                left[n] -= 1
                removed += 1
        counts = {n: round_width(left[n], len(scores[n]), plan.round_to, floors[n]) for n in names}
    keep = {}
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        keep[name] = np.sort(order[: counts[name]])
    return keep


@dataclass
class FilterResult:
    model: keras.Model
    summary: dict


def apply(model: keras.Model, plan: FilterPlan) -> FilterResult:
    keep = plan_keep(model, plan)
    small = remove_channels(model, keep)
    layers = [{"layer": n, "filters_before": int(model.get_layer(n).kernel.shape[-1]), "filters_kept": int(len(k))}
              for n, k in keep.items()]
    summary = {"method": "filter", "criterion": plan.criterion, "scope": plan.scope, "ratio": plan.ratio,
               "round_to": plan.round_to, "per_layer_ratios": plan.per_layer or None, "layers": layers,
               "params_before": int(model.count_params()), "params_after": int(small.count_params()),
               "macs_before": count_macs(model), "macs_after": count_macs(small)}
    summary["params_ratio"] = summary["params_after"] / summary["params_before"]
    summary["macs_ratio"] = summary["macs_after"] / summary["macs_before"]
    return FilterResult(small, summary)
