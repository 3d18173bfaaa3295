"""The input scaling a model was trained with, folded into the model as its first layer, so exported files take
raw 0-255 RGB pixels like every edgeprune model (bench and the Pi need no change)."""
from __future__ import annotations

import copy

from ...errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYER_NAME = "edgeprune_preprocess"


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


def fold(model: keras.Model, kind: str, image_size: int) -> keras.Model:
    """The model with a fixed (image_size, image_size, 3) input and the preprocessing as its first layer."""
    from ..tf import keras  # here, so the names above are read without TensorFlow (import checks its options first)

    layer = _layer(kind)
    cfg = copy.deepcopy(model.get_config())
    layers = cfg["layers"]
    first = layers[0] if layers and layers[0]["class_name"] == "InputLayer" else None
    if isinstance(model, keras.Sequential):
        if first is None:
            layers.insert(0, {"class_name": "InputLayer", "config": {"name": "image", "dtype": "float32"}})
            first = layers[0]
        first["config"]["batch_input_shape"] = [None, image_size, image_size, 3]
        if layer:
            layers.insert(1, layer)
        new = keras.Sequential.from_config(cfg)
    else:
        if len(cfg["input_layers"]) != 1:
            raise UserError(f"the model has {len(cfg['input_layers'])} inputs; edgeprune imports image classifiers with one")
        inp = cfg["input_layers"][0][0]
        for lc in layers:
            if lc["name"] == inp:
                lc["config"]["batch_input_shape"] = [None, image_size, image_size, 3]
        if layer:
            for lc in layers:  # every call on the input now takes the preprocessed input
                for node in lc.get("inbound_nodes") or []:
                    for ref in node:
                        if ref[0] == inp:
                            ref[0] = LAYER_NAME
            layer = {**layer, "name": LAYER_NAME, "inbound_nodes": [[[inp, 0, 0, {}]]]}
            layers.insert(1 + next(i for i, lc in enumerate(layers) if lc["name"] == inp), layer)
        new = keras.Model.from_config(cfg)
    for src in model.layers:
        if src.weights:
            new.get_layer(src.name).set_weights(src.get_weights())
    return new
