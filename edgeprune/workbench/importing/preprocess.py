"""The input scaling a model was trained with, folded into the model as its first layer, so exported files take
raw 0-255 RGB pixels like every edgeprune model (bench and the Pi need no change). A model of grayscale images gets
a fixed luma layer in front of that: the RGB image's gray value, as Pillow's ``convert("L")`` computes it (ITU-R 601-2,
unrounded), so its data, test sets and bundles stay RGB like every other run's."""
from __future__ import annotations

import copy

from ...errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYER_NAME = "edgeprune_preprocess"
GRAY_NAME = "edgeprune_grayscale"  # frozen in workbench/graph.py (FROZEN): never pruned
LUMA = (0.299, 0.587, 0.114)  # Pillow's L = R * 299/1000 + G * 587/1000 + B * 114/1000


def _layer(kind: str) -> dict | None:
    """tf_keras config of the layer that maps raw pixels to what the model expects."""
    if kind == "none":
        return None
    if kind == "rescale":  # [0, 1]
        return {"class_name": "Rescaling", "config": {"name": LAYER_NAME, "scale": 1 / 255.0, "offset": 0.0}}
    if kind == "mobilenet":  # [-1, 1]
        return {"class_name": "Rescaling", "config": {"name": LAYER_NAME, "scale": 1 / 127.5, "offset": -1.0}}
    if kind == "imagenet":  # (x / 255 - mean) / std, per channel
        return {"class_name": "Normalization", "config": {
            "name": LAYER_NAME, "axis": -1, "mean": [255 * m for m in IMAGENET_MEAN],
            "variance": [(255 * s) ** 2 for s in IMAGENET_STD]}}
    raise UserError(f"--preprocess must be one of {', '.join(PREPROCESS)}, got {kind!r}")


PREPROCESS = ("rescale", "mobilenet", "imagenet", "none")


def _gray() -> dict:
    """A 1x1 convolution of fixed weights from RGB to its gray value (no bias, not trained)."""
    return {"class_name": "Conv2D", "config": {
        "name": GRAY_NAME, "trainable": False, "filters": 1, "kernel_size": [1, 1], "strides": [1, 1],
        "padding": "valid", "use_bias": False, "activation": "linear"}}


def fold(model: keras.Model, kind: str, image_size: int, channels: int = 3) -> keras.Model:
    """The model with a fixed (image_size, image_size, 3) input and the preprocessing as its first layer; a model
    of one input channel gets the luma layer first."""
    import numpy as np

    from ..tf import keras  # here, so the names above are read without TensorFlow (import checks its options first)

    layer = _layer(kind)
    front = ([_gray()] if channels == 1 else []) + ([layer] if layer else [])
    cfg = copy.deepcopy(model.get_config())
    layers = cfg["layers"]
    first = layers[0] if layers and layers[0]["class_name"] == "InputLayer" else None
    if isinstance(model, keras.Sequential):
        if first is None:
            layers.insert(0, {"class_name": "InputLayer", "config": {"name": "image", "dtype": "float32"}})
            first = layers[0]
        first["config"]["batch_input_shape"] = [None, image_size, image_size, 3]
        layers[1:1] = front
        new = keras.Sequential.from_config(cfg)
    else:
        if len(cfg["input_layers"]) != 1:
            raise UserError(f"the model has {len(cfg['input_layers'])} inputs; edgeprune imports image classifiers with one")
        inp = cfg["input_layers"][0][0]
        for lc in layers:
            if lc["name"] == inp:
                lc["config"]["batch_input_shape"] = [None, image_size, image_size, 3]
        if front:
            last = front[-1]["config"]["name"]
            for lc in layers:  # every call on the input now takes the preprocessed input
                for node in lc.get("inbound_nodes") or []:
                    for ref in node:
                        if ref[0] == inp:
                            ref[0] = last
            chained, prev = [], inp
            for f in front:
                name = f["config"]["name"]
                chained.append({**f, "name": name, "inbound_nodes": [[[prev, 0, 0, {}]]]})
                prev = name
            at = 1 + next(i for i, lc in enumerate(layers) if lc["name"] == inp)
            layers[at:at] = chained
        new = keras.Model.from_config(cfg)
    for src in model.layers:
        if src.weights:
            new.get_layer(src.name).set_weights(src.get_weights())
    if channels == 1:
        new.get_layer(GRAY_NAME).set_weights([np.asarray(LUMA, np.float32).reshape(1, 1, 3, 1)])
    return new
