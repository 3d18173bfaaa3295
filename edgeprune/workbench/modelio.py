"""Loading and saving Keras models safely: user files are untrusted."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..jsonio import make_temp
from .tf import keras

FORBIDDEN_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def _walk_class_names(node, found: set[str]) -> None:
    if isinstance(node, dict):
        cn = node.get("class_name")
        if isinstance(cn, str):
            found.add(cn)
        for v in node.values():
            _walk_class_names(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk_class_names(v, found)


def check_keras_file(path: str | Path) -> dict:
    """Read config.json from a .keras archive without loading any code; refuse Lambda layers."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            cfg = json.loads(zf.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError, OSError):
        raise UserError(f"{path} is not a Keras model (.keras archive with config.json); save it with model.save('x.keras')") from None
    names: set[str] = set()
    _walk_class_names(cfg, names)
    bad = names & FORBIDDEN_LAYERS
    if bad:
        raise UserError(f"{path} contains a {sorted(bad)[0]} layer, which runs arbitrary code; edgeprune refuses it. Rebuild the model without Lambda layers")
    return cfg


def load_model(path: str | Path, compile: bool = False) -> keras.Model:
    check_keras_file(path)
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        msg = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise UserError(f"{path} could not be loaded as a Keras model: {msg}") from None


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save atomically: a temporary .keras file in the same folder, then rename.

    The .keras format keeps the optimizer state of a compiled model, which is what resuming needs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp(path, suffix=".keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def count_params(model: keras.Model) -> dict:
    """Parameters and nonzero parameters, measured from the weights themselves."""
    total = nonzero = 0
    for w in model.weights:
        a = np.asarray(w.numpy())
        total += a.size
        nonzero += int(np.count_nonzero(a))
    return {"params": int(total), "nonzero_params": int(nonzero)}
