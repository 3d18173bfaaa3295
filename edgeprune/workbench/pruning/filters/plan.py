"""Choosing which filters to keep (uniform or global scope, floors, SIMD-friendly rounding) and applying it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ....errors import UserError
from ....options.prune import check_filter_options, layer_floor, round_width
from ...graph import channel_graph, groups, prunable_group
from ...metrics.macs import count_macs
from ...tf import keras
from .criteria import ChannelInfo, get

L = keras.layers
from .surgery import remove_channels


@dataclass
class FilterPlan:
    criterion: str = "l1"
    scope: str = "uniform"  # uniform | global
    ratio: float = 0.3
    round_to: int = 1
    per_layer: dict[str, float] = field(default_factory=dict)  # from a sensitivity file; overrides ratio
    seed: int = 42
    images: tuple | None = field(default=None, repr=False, compare=False)  # (x, y) training images for taylor
    scores: dict | None = field(default=None, repr=False, compare=False)  # channel_scores computed once already

    def check(self) -> None:
        """The user's options, checked before any model is loaded."""
        check_filter_options(self.ratio, self.scope, self.round_to, self.criterion)


def _placed(values: np.ndarray, ch: np.ndarray, width: int) -> np.ndarray:
    """``values`` (the group's channels ``ch`` on the last axis) placed at their group channel."""
    out = np.zeros(values.shape[:-1] + (width,), dtype=np.float64)
    out[..., ch] = values
    return out


def taylor_terms(model: keras.Model, images, batches: int = 4, batch_size: int = 32, seed: int = 42) -> dict:
    """(id(layer), axis) -> sum over a few training batches of |w * dL/dw| per channel of that weight axis."""
    from ...tf import tf

    if images is None:
        raise UserError("--criterion taylor needs training images (the prune and sensitivity commands pass them)")
    x, y = images
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))[: batches * batch_size]
    last = model.layers[-1]
    probs = isinstance(last, L.Softmax) or getattr(getattr(last, "activation", None), "__name__", "") == "softmax"
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
    cg = channel_graph(model)
    layers = [cg.layers[lid] for lid in {lid for lid, _ in cg.axes}]
    variables = [w for layer in layers for w in layer.trainable_weights]
    acc = [np.zeros(v.shape, dtype=np.float64) for v in variables]
    for start in range(0, len(idx), batch_size):
        b = idx[start:start + batch_size]
        with tf.GradientTape() as tape:
            loss = loss_fn(y[b], model(tf.convert_to_tensor(x[b], tf.float32), training=False))
        for i, (v, g) in enumerate(zip(variables, tape.gradient(loss, variables))):
            if g is not None:
                acc[i] += np.abs(v.numpy() * g.numpy())
    terms: dict = {}
    by_var = {id(v): a for v, a in zip(variables, acc)}
    for layer in layers:
        ws = [by_var[id(w)] for w in layer.trainable_weights if id(w) in by_var]
        if not ws:
            continue
        if type(layer) in (L.Conv2D, L.Dense):
            kern = ws[0]
            terms[(id(layer), "in")] = np.moveaxis(kern, -2, -1).reshape(-1, kern.shape[-2]).sum(axis=0)
            terms[(id(layer), "out")] = kern.reshape(-1, kern.shape[-1]).sum(axis=0) + sum(w for w in ws[1:])
        elif isinstance(layer, L.DepthwiseConv2D):
            kern = ws[0]
            terms[(id(layer), "in")] = np.moveaxis(kern, 2, -1).reshape(-1, kern.shape[2]).sum(axis=0) + sum(
                w for w in ws[1:])
        else:  # BatchNorm (gamma, beta), PReLU (alpha): channels on the last axis
            n = int(layer.input_shape[-1])
            terms[(id(layer), "in")] = sum(w.reshape(-1, n).sum(axis=0) for w in ws if w.shape[-1] == n)
    return terms


def group_info(grp, rng: np.random.Generator, terms: dict | None = None) -> ChannelInfo:
    """The numbers the criteria see for one group: its producers' and depthwise kernels, its BatchNorms' gammas,
    and, given Taylor terms, one term vector per weight axis in the group."""
    kernels, gammas, taylor = [], [], []
    w = grp.width
    for layer, axis, pos, ch in grp.members():
        if type(layer) in (L.Conv2D, L.Dense) and axis == "out":
            kernels.append(_placed(np.take(layer.kernel.numpy(), pos, axis=-1), ch, w))
        elif isinstance(layer, L.DepthwiseConv2D):
            kernels.append(_placed(np.moveaxis(np.take(layer.depthwise_kernel.numpy(), pos, axis=2), 2, -1), ch, w))
        elif isinstance(layer, L.BatchNormalization) and layer.scale:
            gammas.append(_placed(layer.gamma.numpy()[pos], ch, w))
        if terms and (id(layer), axis) in terms:
            taylor.append(_placed(np.asarray(terms[(id(layer), axis)])[pos], ch, w))
    return ChannelInfo(kernels, gammas, rng, taylor)


def channel_scores(model: keras.Model, criterion: str, seed: int, images=None) -> dict[str, np.ndarray]:
    """Per prunable group (by name), a score per channel: the criterion reduced over the group's members."""
    crit = get(criterion)
    rng = np.random.default_rng(seed)
    terms = taylor_terms(model, images, seed=seed) if crit.needs_data else None
    return {g.name: np.asarray(crit.scores(group_info(g, rng, terms)), dtype=np.float64) for g in groups(model)}


def plan_keep(model: keras.Model, plan: FilterPlan) -> dict[str, np.ndarray]:
    plan.check()
    scores = plan.scores if plan.scores is not None else channel_scores(model, plan.criterion, plan.seed, plan.images)
    for name, r in plan.per_layer.items():
        if name not in scores:
            prunable_group(model, name)  # names why, where the layer exists but its channels cannot be removed
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


def group_rows(model: keras.Model, kept: dict[str, int]) -> list[dict]:
    """run.json's record of each group: the layers whose channels it holds, and channels kept of total."""
    return [{"name": g.name, "producers": list(g.producers), "members": g.member_names(),
             "channels_kept": int(kept.get(g.name, g.width)), "channels_total": g.width} for g in groups(model)]


@dataclass
class FilterResult:
    model: keras.Model
    summary: dict


def apply(model: keras.Model, plan: FilterPlan) -> FilterResult:
    keep = plan_keep(model, plan)
    small = remove_channels(model, keep)
    gs = {g.name: g for g in groups(model)}
    layers = [{"layer": n, "filters_before": gs[n].width, "filters_kept": int(len(k))} for n, k in keep.items()]
    summary = {"method": "filter", "criterion": plan.criterion, "scope": plan.scope, "ratio": plan.ratio,
               "round_to": plan.round_to, "per_layer_ratios": plan.per_layer or None, "layers": layers,
               "groups": group_rows(model, {n: len(k) for n, k in keep.items()}),
               "params_before": int(model.count_params()), "params_after": int(small.count_params()),
               "macs_before": count_macs(model), "macs_after": count_macs(small)}
    summary["params_ratio"] = summary["params_after"] / summary["params_before"]
    summary["macs_ratio"] = summary["macs_after"] / summary["macs_before"]
    return FilterResult(small, summary)
