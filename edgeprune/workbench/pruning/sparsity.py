"""Measured sparsity: count the zeros in the weights, never trust the schedule."""
from __future__ import annotations

import numpy as np

from ..graph import prunable_layers
from ..tf import keras


def select_layers(model: keras.Model, skip_first: bool = False, skip_last: bool = False,
                  names: list[str] | None = None) -> list[str]:
    from ...errors import UserError

    layers = [l.name for l in prunable_layers(model)]
    if not layers:
        raise UserError("the model has no Conv2D or Dense layer to prune")
    if names:
        unknown = [n for n in names if n not in layers]
        if unknown:
            raise UserError(f"--layers names {unknown} that are not prunable layers of the model; prunable: {', '.join(layers)}")
        chosen = [n for n in layers if n in names]
    else:
        chosen = list(layers)
        if skip_first:
            chosen = chosen[1:]
        if skip_last and chosen and chosen[-1] == layers[-1]:
            chosen = chosen[:-1]
    if not chosen:
        raise UserError("no layer is left to prune after --skip-first/--skip-last")
    return chosen


def sparsity_report(model: keras.Model, pruned: list[str]) -> dict:
    rows = []
    total = zeros = 0
    for layer in prunable_layers(model):
        k = layer.kernel.numpy()
        z = int(k.size - np.count_nonzero(k))
        rows.append({"layer": layer.name, "kernel": int(k.size), "nonzero": int(k.size - z), "sparsity": z / k.size,
                     "pruned": layer.name in pruned})
        if layer.name in pruned:
            total += k.size
            zeros += z
    all_params = sum(int(np.asarray(w).size) for w in model.weights)
    all_nonzero = sum(int(np.count_nonzero(np.asarray(w))) for w in model.weights)
    return {"sparsity": zeros / total if total else 0.0, "sparsity_all": 1 - all_nonzero / all_params,
            "params": all_params, "nonzero_params": all_nonzero, "layers": rows}
