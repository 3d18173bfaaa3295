"""Channel surgery: build a smaller model without the removed filters, with the surviving weights copied over.

The channel graph (``workbench/graph.py``) says which weight axes of which layers hold a group's channels; removing
channels of a group keeps, per layer and per axis, the indices of the channels that survive. The model is rebuilt
from its config (nested models included) with the producers' new widths, and each layer's weights are sliced along
its kept indices by its type's slicer (``SLICERS``): a Conv2D's input and output channels, a Dense's rows (behind
Flatten channel c owns rows (i*W + j)*C + c, so the graph hands over those rows) and columns, a depthwise kernel's
channels, a BatchNorm's or PReLU's entries. Concatenate needs no slicing: its inputs' kept channels keep their order.
"""
from __future__ import annotations

import copy

import numpy as np

from ....errors import UserError
from ...graph import channel_graph, prunable_group
from ...tf import keras

L = keras.layers


def flatten_rows(keep: np.ndarray, h: int, w: int, c: int) -> np.ndarray:
    """Rows of the Dense behind Flatten that belong to the kept channels, in the new model's order."""
    keep = np.sort(np.asarray(keep))
    return (np.arange(h * w)[:, None] * c + keep[None, :]).reshape(-1)


# --- slicers: (layer, its weights, kept indices per axis) -> the smaller weights. An axis absent keeps everything.

def _slice_kernel(layer, ws, axes):
    kern = ws[0]
    if "in" in axes:
        kern = np.take(kern, axes["in"], axis=-2)
    if "out" in axes:
        kern = np.take(kern, axes["out"], axis=-1)
    rest = [w[axes["out"]] if "out" in axes else w for w in ws[1:]]  # the bias
    return [kern] + rest


def _slice_depthwise(layer, ws, axes):
    k = axes["in"]
    return [np.take(ws[0], k, axis=2)] + [w[k] for w in ws[1:]]


def _slice_vectors(layer, ws, axes):
    return [w[axes["in"]] for w in ws]


def _slice_last(layer, ws, axes):
    full = int(layer.input_shape[-1])
    return [np.take(w, axes["in"], axis=-1) if w.shape[-1] == full else w for w in ws]


SLICERS = {L.Conv2D: _slice_kernel, L.Dense: _slice_kernel, L.DepthwiseConv2D: _slice_depthwise,
           L.BatchNormalization: _slice_vectors, L.PReLU: _slice_last}


def removed_roots(model: keras.Model, keep: dict[str, np.ndarray]) -> np.ndarray:
    """The channel-graph components that ``keep`` (group name -> channels kept) removes, checked."""
    out = []
    for name, idx in keep.items():
        grp = prunable_group(model, name)
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            raise UserError(f"layer {name!r} would keep no channel")
        if idx.min() < 0 or idx.max() >= grp.width or len(np.unique(idx)) != len(idx):
            raise UserError(f"layer {name!r}: bad channel indices")
        out.append(grp.roots[np.setdiff1d(np.arange(grp.width), idx)])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def kept_axes(model: keras.Model, removed: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
    """id(layer) -> {"in"|"out": kept indices} for every weight axis that loses channels."""
    cg = channel_graph(model)
    out: dict[int, dict[str, np.ndarray]] = {}
    for (lid, axis), ids in cg.axes.items():
        k = cg.kept(ids, removed)
        if len(k) < len(ids):
            out.setdefault(lid, {})[axis] = k
    return out


def _patch_config(config: dict, model, axes: dict, reshapes: dict) -> None:
    for lc in config["layers"]:
        name = lc["config"].get("name")
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue  # a Sequential's InputLayer
        if isinstance(layer, keras.Model):
            _patch_config(lc["config"], layer, axes, reshapes)
        elif id(layer) in axes and "out" in axes[id(layer)]:
            key = "filters" if isinstance(layer, L.Conv2D) else "units"
            lc["config"][key] = int(len(axes[id(layer)]["out"]))
        elif id(layer) in reshapes:
            shape = list(lc["config"]["target_shape"])
            lc["config"]["target_shape"] = shape[:-1] + [int(reshapes[id(layer)])]


def leaf_pairs(old: keras.Model, new: keras.Model):
    """(old layer, the new model's layer of the same place), nested models walked together."""
    for layer in old.layers:
        twin = new.get_layer(layer.name)
        if isinstance(layer, keras.Model):
            yield from leaf_pairs(layer, twin)
        else:
            yield layer, twin


def remove_channels(model: keras.Model, keep: dict[str, np.ndarray]) -> keras.Model:
    """``keep`` maps a group's name (its producer's) to the channels to keep (other groups keep all)."""
    removed = removed_roots(model, keep)
    axes = kept_axes(model, removed)
    cg = channel_graph(model)
    reshapes = {id(op.layer): len(cg.kept(cg.tensor_ids[op.outputs[0]], removed))
                for op in cg.ops if isinstance(op.layer, L.Reshape)}
    config = copy.deepcopy(model.get_config())
    _patch_config(config, model, axes, reshapes)
    small = model.__class__.from_config(config)
    for layer, new in leaf_pairs(model, small):
        if isinstance(layer, L.InputLayer) or not layer.weights:
            continue
        ws = layer.get_weights()
        if id(layer) in axes:
            slicer = SLICERS.get(type(layer))
            if slicer is None:
                raise AssertionError(f"layer {layer.name!r} loses channels but has no slicer")
            ws = slicer(layer, ws, axes[id(layer)])
        new.set_weights(ws)
    return small


def zero_channels(model: keras.Model, zero: dict[str, np.ndarray]) -> keras.Model:
    """A copy of the model with the given channels of each group silenced: the producers' kernels and biases, the
    depthwise biases and the BatchNorms' gamma, beta and mean set so the channel is exactly 0 wherever the group
    reaches. Removing those channels must give the same outputs (a test of the surgery)."""
    clone = remove_channels(model, {})
    for name, idx in zero.items():
        grp = prunable_group(clone, name)
        for layer, axis, pos, ch in grp.members():
            hit = pos[np.isin(ch, np.asarray(idx))]
            if not len(hit):
                continue
            ws = layer.get_weights()
            names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
            if isinstance(layer, L.BatchNormalization):
                for arr, wname in zip(ws, names):
                    if wname in ("gamma", "beta", "moving_mean"):
                        arr[hit] = 0
            elif type(layer) in (L.Conv2D, L.Dense) and axis == "out":
                ws[0][..., hit] = 0
                for arr in ws[1:]:
                    arr[hit] = 0
            elif isinstance(layer, L.DepthwiseConv2D):
                ws[0][:, :, hit, :] = 0
                for arr in ws[1:]:
                    arr[hit] = 0
            else:
                continue
            layer.set_weights(ws)
    return clone
