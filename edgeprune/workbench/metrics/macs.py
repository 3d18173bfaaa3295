"""Parameters and multiply-accumulates counted from the layer shapes."""
from __future__ import annotations

import numpy as np

from ..graph import leaf_layers
from ..tf import keras

L = keras.layers


def count_macs(model: keras.Model) -> int:
    total = 0
    for layer in leaf_layers(model):
        if isinstance(layer, L.DepthwiseConv2D):
            _, h, w, c = layer.output_shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * c
        elif isinstance(layer, L.Conv2D):
            _, h, w, cout = layer.output_shape
            kh, kw = layer.kernel_size
            cin = layer.input_shape[-1]
            total += h * w * kh * kw * (cin // getattr(layer, "groups", 1)) * cout
        elif isinstance(layer, L.Dense):
            total += int(np.prod(layer.kernel.shape))
    return int(total)


def params_from_shapes(model: keras.Model) -> int:
    """Parameters computed from each layer's configuration, independent of the stored arrays."""
    total = 0
    for layer in leaf_layers(model):
        if isinstance(layer, L.Conv2D) and not isinstance(layer, L.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            cin, cout = layer.input_shape[-1], layer.filters
            total += kh * kw * cin * cout + (cout if layer.use_bias else 0)
        elif isinstance(layer, L.Dense):
            total += layer.input_shape[-1] * layer.units + (layer.units if layer.use_bias else 0)
        elif isinstance(layer, L.BatchNormalization):
            c = layer.input_shape[-1]
            total += c * (2 + int(layer.center) + int(layer.scale))
        else:
            total += sum(int(np.prod(w.shape)) for w in layer.weights)
    return int(total)
