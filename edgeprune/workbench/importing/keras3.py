"""A Keras 3 ``.keras`` file rebuilt as a tf_keras model, without Keras 3 and without running code from the file.

tfmot and the TFLite converter need tf_keras (Keras 2), and Keras 3 has no pruning of its own. The file's
config.json is read as data and checked (only the built-in layers edgeprune supports), translated into tf_keras'
config format (dtype policies, input shapes, inbound nodes), built with tf_keras, and the weights are read from
model.weights.h5. Keras 3 stores them under names it derives from each layer's class in ``model.layers`` order
(``layers/conv2d``, ``layers/conv2d_1``, ...), not the layers' own names; every shape is checked on the way in.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...safe_files import read_keras_archive
from ..modelio import check_model
from ..tf import keras

# Config keys of Keras 3 layers that tf_keras does not take; dropped when their value is the default.
_DROPPABLE = {"optional", "lora_rank", "lora_alpha", "quantization_config", "gradient_checkpointing"}
_INIT_KEYS = ("initializer", "regularizer", "constraint")


def snake_case(name: str) -> str:
    """Keras 3's ``naming.to_snake_case``: the weight-file name of a layer's class."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_keras3_file(path: Path) -> bool:
    """A .keras archive written by Keras 3 (its metadata names keras_version 3.x); read through the bounded reader,
    so a damaged or hostile archive is refused here."""
    meta = read_keras_archive(path, weights=False).metadata
    return isinstance(meta, dict) and str(meta.get("keras_version", "")).startswith("3.")


def _tensor_ref(t) -> list:
    if not (isinstance(t, dict) and t.get("class_name") == "__keras_tensor__"):
        raise UserError(f"an inbound node of this model is not a layer output ({str(t)[:60]}); edgeprune rebuilds "
                        "models whose layers are called on other layers' outputs only")
    name, node, index = t["config"]["keras_history"]
    return [str(name), int(node), int(index), {}]


def _inbound(nodes: list) -> list:
    out = []
    for n in nodes:
        if any(v is not None for v in (n.get("kwargs") or {}).values()):
            raise UserError(f"a layer is called with keyword arguments {sorted(n['kwargs'])}; edgeprune rebuilds plain "
                            "layer calls only")
        args = n.get("args") or []
        if len(args) != 1:
            raise UserError(f"a layer is called with {len(args)} positional arguments; edgeprune rebuilds one-input calls")
        a = args[0]
        out.append([_tensor_ref(t) for t in a] if isinstance(a, list) else [_tensor_ref(a)])
    return out


def _io_list(v) -> list:
    """input_layers / output_layers: one [name, node, index] or a list of them, as tf_keras' list of lists."""
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        return [v]
    return [list(x) for x in v]


def _layer_config(cls: str, cfg: dict, where: str) -> dict:
    cfg = dict(cfg)
    if isinstance(cfg.get("dtype"), dict):
        cfg["dtype"] = (cfg["dtype"].get("config") or {}).get("name", "float32")
    if cls == "InputLayer" and "batch_shape" in cfg:
        cfg["batch_input_shape"] = cfg.pop("batch_shape")
    for k in list(cfg):
        if k.endswith(_INIT_KEYS):  # weights are loaded from the file: initializers do not matter; see the note
            cfg.pop(k)
        elif k in _DROPPABLE:
            if cfg[k] not in (None, False, 0, "", {}):
                raise UserError(f"{where}: layer option {k}={cfg[k]!r} has no tf_keras equivalent")
            cfg.pop(k)
    return cfg


def translate(node: dict, where: str) -> dict:
    """A Keras 3 model or layer config as tf_keras' {"class_name", "config"} form."""
    cls, cfg = node["class_name"], node["config"]
    if cls in ("Functional", "Sequential", "Model"):
        cfg = dict(cfg)
        cfg.pop("dtype", None)
        layers = []
        for layer in cfg["layers"]:
            t = translate(layer, where)
            if cls != "Sequential":
                t["name"] = t["config"]["name"]
                t["inbound_nodes"] = _inbound(layer.get("inbound_nodes") or [])
            layers.append(t)
        cfg["layers"] = layers
        if cls != "Sequential":
            cfg["input_layers"] = _io_list(cfg["input_layers"])
            cfg["output_layers"] = _io_list(cfg["output_layers"])
        cfg.pop("build_input_shape", None)
        return {"class_name": "Functional" if cls == "Model" else cls, "config": cfg}
    return {"class_name": cls, "config": _layer_config(cls, cfg, where)}


def _weight_groups(model, group, where: str) -> None:
    """Set each layer's weights from the h5 group Keras 3 wrote for it (class-derived names, model.layers order)."""
    used: dict[str, int] = {}
    for layer in model.layers:
        name = snake_case(layer.__class__.__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        if name not in group:
            if layer.weights:
                raise UserError(f"{where}: the weights of layer {layer.name!r} are missing from model.weights.h5")
            continue
        sub = group[name]
        if isinstance(layer, keras.Model):
            _weight_groups(layer, sub["layers"], where)
            continue
        vars_ = sub["vars"] if "vars" in sub else {}
        arrays = [np.asarray(vars_[str(i)]) for i in range(len(vars_))]
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise UserError(f"{where}: layer {layer.name!r} holds weights of shapes {[a.shape for a in arrays]}, "
                            f"the model expects {expected}")
        if arrays:
            layer.set_weights(arrays)


def load_keras3(path: str | Path) -> keras.Model:
    """The Keras 3 model in ``path`` as a tf_keras model with its weights."""
    import h5py

    path = Path(path)
    where = str(path)
    archive = read_keras_archive(path)  # bounded, and the weights walked: no external storage, links, NaN
    cfg, weights = archive.config, archive.weights
    if weights is None:
        raise UserError(f"{path} is not a Keras 3 model archive (config.json and model.weights.h5)")
    check_model(cfg, path)
    try:
        tk = translate(cfg, where)
        cls = keras.Sequential if tk["class_name"] == "Sequential" else keras.Model
        model = cls.from_config(tk["config"])
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UserError(f"{path}: the model cannot be rebuilt with tf_keras ({exc.__class__.__name__}: "
                        f"{' '.join(str(exc).split())[:200]})") from None
    try:
        with h5py.File(io.BytesIO(weights), "r") as f:
            _weight_groups(model, f["layers"], where)
    except UserError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: model.weights.h5 cannot be read ({exc.__class__.__name__}: {str(exc)[:160]})") from None
    return model
