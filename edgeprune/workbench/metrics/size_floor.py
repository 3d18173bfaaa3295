"""How small a model's weights could be stored: two figures, with names that say what they are.

- naive bound: nonzero weights x bytes per weight of the format + the entropy of the zero/non-zero mask. It counts
  every nonzero weight at full width, so gzip can beat it: repeated values (clustering, few distinct int8 levels,
  float exponents that repeat) cost gzip less than a full weight each.
- entropy floor: per tensor, the mask entropy + the order-0 entropy of the nonzero values as the format stores
  them (fp32 and fp16 bit patterns; int8 and dynamic as symmetric per-output-channel int8, as the converter
  quantizes kernels). An encoder that codes each value on its own cannot go below it.

Counted over Conv2D, DepthwiseConv2D and Dense kernels and biases (BatchNorm folds into the convolutions in
TFLite); biases are counted as float32 values (int32 in integer files), at most a few hundred bytes.
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


def order0_entropy_bits(symbols: np.ndarray) -> float:
    """n x H(symbols): the bits an ideal order-0 coder needs for these values."""
    if symbols.size == 0:
        return 0.0
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / symbols.size
    return float(-(counts * np.log2(p)).sum())


def stored_values(w: np.ndarray, fmt: str) -> np.ndarray:
    """The symbols the file stores for the nonzero entries of a weight array."""
    if w.ndim == 1 or fmt == "fp32":  # biases stay 32-bit
        vals = w.astype(np.float32).view(np.uint32)
    elif fmt == "fp16":
        vals = w.astype(np.float16).view(np.uint16)
    else:  # int8, dynamic: symmetric per output channel (the last axis)
        flat = w.reshape(-1, w.shape[-1])
        scale = np.abs(flat).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        vals = np.round(flat / scale).astype(np.int8).reshape(w.shape)
    return vals[w != 0]


def floor_bytes(model, fmt: str) -> dict:
    arrays = weight_arrays(model)
    total = int(sum(a.size for a in arrays))
    nonzero = int(sum(np.count_nonzero(a) for a in arrays))
    bpw = formats.get(fmt).bytes_per_weight
    entropy = sum(mask_entropy_bytes(a.size, int(np.count_nonzero(a))) + order0_entropy_bits(stored_values(a, fmt)) / 8
                  for a in arrays)
    return {"weights": total, "nonzero_weights": nonzero, "bytes_per_weight": bpw,
            "naive_bound_bytes": int(round(nonzero * bpw + mask_entropy_bytes(total, nonzero))),
            "entropy_floor_bytes": int(round(entropy))}


def measured_sparsity(model) -> float:
    arrays = weight_arrays(model)
    kernels = [a for a in arrays if a.ndim > 1]
    total = sum(a.size for a in kernels)
    return 0.0 if total == 0 else 1.0 - sum(np.count_nonzero(a) for a in kernels) / total
