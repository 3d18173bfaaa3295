"""The information floor of a model's weights: what a perfect encoder would need to store them.

floor = nonzero weights x bytes per weight + the entropy of the zero/non-zero mask (in bytes).
Counted over Conv2D/Dense kernels and biases (BatchNorm folds into the convolutions in TFLite).
"""
from __future__ import annotations

import math

import numpy as np

from ... import formats


def weight_arrays(model) -> list[np.ndarray]:
    from ..graph import weighted_layers

    return [np.asarray(w) for layer in weighted_layers(model) for w in layer.get_weights()]


def mask_entropy_bytes(total: int, nonzero: int) -> float:
    if total == 0 or nonzero in (0, total):
        return 0.0
    p = nonzero / total
    h = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    return total * h / 8.0


def floor_bytes(model, fmt: str) -> dict:
    arrays = weight_arrays(model)
    total = int(sum(a.size for a in arrays))
    nonzero = int(sum(np.count_nonzero(a) for a in arrays))
    bpw = formats.get(fmt).bytes_per_weight
    return {"weights": total, "nonzero_weights": nonzero, "bytes_per_weight": bpw,
            "floor_bytes": int(round(nonzero * bpw + mask_entropy_bytes(total, nonzero)))}


def measured_sparsity(model) -> float:
    arrays = weight_arrays(model)
    kernels = [a for a in arrays if a.ndim > 1]
    total = sum(a.size for a in kernels)
    return 0.0 if total == 0 else 1.0 - sum(np.count_nonzero(a) for a in kernels) / total
