"""How small a model's weights could be stored: two figures, with names that say what they are.

- naive bound: nonzero weights x bytes per weight of the format + the entropy of the zero/non-zero mask. It counts
  every nonzero weight at full width, so gzip can beat it: repeated values (clustering, few distinct int8 levels,
  float exponents that repeat) cost gzip less than a full weight each.
- entropy floor: per tensor, the mask entropy + the order-0 entropy of the nonzero values as the format stores
  them (fp32 and fp16 bit patterns; int8 and dynamic as symmetric per-output-channel int8, as the converter
  quantizes kernels; the quantizer's formats at their own bit width: int4 symmetric in [-8, 7] per output channel, or
  per block of inputs in a blockwise format). An encoder that codes each value on its own cannot go below it.
- A blockwise format stores a float16 scale per block: 2 bytes per block are added to both figures, since that is
  1/16 byte per weight in blocks of 32, an eighth of an int4 weight. `mixed` counts each layer at the bits it was given.

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


def _blocked(w: np.ndarray, block: int | None) -> bool:
    """Whether a blockwise format stores this kernel in blocks: Dense kernels whose inputs divide into blocks."""
    return bool(block) and w.ndim == 2 and w.shape[0] % block == 0


def stored_values(w: np.ndarray, fmt: str, bits: int | None = None) -> np.ndarray:
    """The symbols the file stores for the nonzero entries of a weight array (``bits``: this layer's, for mixed)."""
    spec = formats.get(fmt)
    bits = bits or spec.weight_bits
    if w.ndim == 1 or fmt == "fp32":  # biases stay 32-bit
        vals = w.astype(np.float32).view(np.uint32)
    elif fmt == "fp16":
        vals = w.astype(np.float16).view(np.uint16)
    else:  # integer weights, symmetric per output channel (the last axis), or per block of inputs
        flat = w.reshape(-1, w.shape[-1])
        qmax = 2 ** (bits - 1) - 1
        if _blocked(w, spec.block):
            blocks = flat.reshape(-1, spec.block, flat.shape[-1])
            scale = np.abs(blocks).max(axis=1, keepdims=True) / qmax
            scale[scale == 0] = 1.0
            q = np.round(blocks / scale).reshape(flat.shape)
        else:
            scale = np.abs(flat).max(axis=0) / qmax
            scale[scale == 0] = 1.0
            q = np.round(flat / scale)
        vals = np.clip(q, -qmax - 1, qmax).astype(np.int8).reshape(w.shape)
    return vals[w != 0]


def scale_bytes(w: np.ndarray, fmt: str) -> int:
    """The float16 block scales a blockwise format stores for this array (0 when it is not stored in blocks)."""
    block = formats.get(fmt).block
    return 2 * (w.size // block) if _blocked(w, block) else 0


def floor_bytes(model, fmt: str, layer_bits: dict[str, int] | None = None) -> dict:
    """Both figures for the model in this format; ``layer_bits`` gives a Keras layer's weight bits (mixed), the other
    layers count at the format's own width."""
    from ..graph import weighted_layers

    per_layer = [(w, (layer_bits or {}).get(layer.name)) for layer in weighted_layers(model)
                 for w in map(np.asarray, layer.get_weights())]
    bpw = formats.get(fmt).bytes_per_weight
    total = int(sum(a.size for a, _ in per_layer))
    nonzero = int(sum(np.count_nonzero(a) for a, _ in per_layer))
    weight_bytes = sum(np.count_nonzero(a) * (b / 8 if b and a.ndim > 1 else bpw) for a, b in per_layer)
    scales = sum(scale_bytes(a, fmt) for a, _ in per_layer)
    entropy = sum(mask_entropy_bytes(a.size, int(np.count_nonzero(a))) + order0_entropy_bits(stored_values(a, fmt, b)) / 8
                  for a, b in per_layer)
    return {"weights": total, "nonzero_weights": nonzero, "bytes_per_weight": bpw,
            "naive_bound_bytes": int(round(weight_bytes + scales + mask_entropy_bytes(total, nonzero))),
            "entropy_floor_bytes": int(round(entropy + scales))}


def measured_sparsity(model) -> float:
    arrays = weight_arrays(model)
    kernels = [a for a in arrays if a.ndim > 1]
    total = sum(a.size for a in kernels)
    return 0.0 if total == 0 else 1.0 - sum(np.count_nonzero(a) for a in kernels) / total
