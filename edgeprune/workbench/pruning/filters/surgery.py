"""Channel surgery: build a smaller model without the removed filters, with the surviving weights copied over.

Removing output channels of a layer also removes the matching entries of the BatchNorm after it, the matching
input channels of the next Conv2D, or, behind Flatten, the matching rows of the next Dense: Flatten orders features
as (row, column, channel), so channel c of an (H, W, C) map owns rows (i*W + j)*C + c.
"""
from __future__ import annotations

import copy

import numpy as np

from ....errors import UserError
from ...graph import Group, groups
from ...tf import keras

L = keras.layers


def flatten_rows(keep: np.ndarray, h: int, w: int, c: int) -> np.ndarray:
    """Rows of the Dense behind Flatten that belong to the kept channels, in the new model's order."""
    keep = np.sort(np.asarray(keep))
    return (np.arange(h * w)[:, None] * c + keep[None, :]).reshape(-1)


def remove_channels(model: keras.Model, keep: dict[str, np.ndarray]) -> keras.Model:
    """``keep`` maps a producer layer's name to the output channels to keep (others keep all)."""
    gs = {g.producer: g for g in groups(model)}
    unknown = set(keep) - set(gs)
    if unknown:
        raise UserError(f"cannot remove channels of {sorted(unknown)}: not prunable producers ({', '.join(gs)})")
    keep = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in keep.items()}
    for name, idx in keep.items():
        n = model.get_layer(name).kernel.shape[-1]
        if len(idx) == 0:
            raise UserError(f"layer {name!r} would keep no channel")
        if idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx):
            raise UserError(f"layer {name!r}: bad channel indices")
    out_keep: dict[str, np.ndarray] = {}  # layer -> kept output channels (producers and their BN)
    in_rows: dict[str, np.ndarray] = {}  # consumer -> kept input rows / channels
    for g in gs.values():
        n = model.get_layer(g.producer).kernel.shape[-1]
        k = keep.get(g.producer, np.arange(n))
        out_keep[g.producer] = k
        if g.bn:
            out_keep[g.bn] = k
        if g.flatten_hw:
            in_rows[g.consumer] = flatten_rows(k, *g.flatten_hw, n)
        else:
            in_rows[g.consumer] = k

    config = copy.deepcopy(model.get_config())
    for lc in config["layers"]:
        name = lc["config"].get("name")
        if name in out_keep and lc["class_name"] in ("Conv2D", "Dense"):
            key = "filters" if lc["class_name"] == "Conv2D" else "units"
            lc["config"][key] = int(len(out_keep[name]))
    small = model.__class__.from_config(config)

    for layer in model.layers:
        if isinstance(layer, L.InputLayer) or not layer.weights:
            continue
        new = small.get_layer(layer.name)
        ws = layer.get_weights()
        if isinstance(layer, L.Conv2D):
            kern = ws[0]
            if layer.name in in_rows:
                kern = kern[:, :, in_rows[layer.name], :]
            if layer.name in out_keep:
                kern = kern[..., out_keep[layer.name]]
            ws = [kern] + ([ws[1][out_keep[layer.name]] if layer.name in out_keep else ws[1]] if layer.use_bias else [])
        elif isinstance(layer, L.Dense):
            kern = ws[0]
            if layer.name in in_rows:
                kern = kern[in_rows[layer.name], :]
            if layer.name in out_keep:
                kern = kern[:, out_keep[layer.name]]
            ws = [kern] + ([ws[1][out_keep[layer.name]] if layer.name in out_keep else ws[1]] if layer.use_bias else [])
        elif isinstance(layer, L.BatchNormalization) and layer.name in out_keep:
            ws = [w[out_keep[layer.name]] for w in ws]
        new.set_weights(ws)
    return small


def zero_channels(model: keras.Model, zero: dict[str, np.ndarray]) -> keras.Model:
    """The same model with the given output channels silenced: kernel, bias and the BatchNorm's output set so the
    channel is exactly 0 after BN. Removing those channels must give the same outputs (a test of the surgery)."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    gs = {g.producer: g for g in groups(model)}
    for name, idx in zero.items():
        layer = clone.get_layer(name)
        ws = layer.get_weights()
        ws[0][..., idx] = 0
        if layer.use_bias:
            ws[1][idx] = 0
        layer.set_weights(ws)
        g: Group = gs[name]
        if g.bn:
            bn = clone.get_layer(g.bn)
            bws = bn.get_weights()
            names = [w.name.split("/")[-1].split(":")[0] for w in bn.weights]
            for arr, wname in zip(bws, names):
                if wname == "gamma":
                    arr[idx] = 0
                elif wname == "beta":
                    arr[idx] = 0
            bn.set_weights(bws)
    return clone
