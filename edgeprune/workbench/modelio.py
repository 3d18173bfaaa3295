"""Loading and saving Keras models safely: user files are untrusted."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..jsonio import make_temp
from ..safe_files import check_model_config, read_keras_archive
from .tf import keras

FORBIDDEN_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}

# What a model file's config may name. Keras imports the module a config object names, even in safe mode, so an
# unknown module is refused before Keras sees the file: only the layers edgeprune supports and the Keras objects
# they are saved with (initializers, regularizers, constraints, the optimizer) may appear.
SUPPORTED_LAYERS = frozenset({
    "InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "ReLU", "Activation", "LeakyReLU", "ELU",
    "PReLU", "Softmax", "Dropout", "SpatialDropout2D", "GaussianNoise", "ActivityRegularization", "MaxPooling2D",
    "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Reshape", "ZeroPadding2D",
    "Cropping2D", "Add", "Multiply", "Concatenate", "Subtract", "Average", "Maximum", "Minimum", "Rescaling",
    "Normalization", "Resizing",
})
MODELS = frozenset({"Sequential", "Functional", "Model"})
ALLOWED_OBJECTS: dict[str, frozenset[str]] = {
    "keras": MODELS | {"DTypePolicy", "FloatDTypePolicy"},  # dtype policies: Keras 3 files
    "keras.src.models.functional": frozenset({"Functional"}),  # Keras 3 functional models
    "keras.src.models.sequential": frozenset({"Sequential"}),
    "tf_keras.src.engine.functional": frozenset({"Functional"}),
    "tf_keras.src.engine.sequential": frozenset({"Sequential"}),
    "keras.layers": SUPPORTED_LAYERS,
    "keras.initializers": frozenset({
        "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "Ones", "Zeros",
        "Constant", "VarianceScaling", "RandomNormal", "RandomUniform", "TruncatedNormal", "Orthogonal", "Identity"}),
    "keras.regularizers": frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"}),
    "keras.constraints": frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "RadialConstraint"}),
    "keras.optimizers": frozenset({"Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl"}),
    "keras.optimizers.schedules": frozenset({"ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                                             "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts"}),
    "builtins": frozenset({"function"}),  # a Keras built-in function by name (an activation), looked up in Keras only
}
# objects without a module: tf_keras' older form, and Keras 3's references to layer outputs in inbound nodes
_ALL_NAMES = frozenset().union(*ALLOWED_OBJECTS.values()) | {"__keras_tensor__"}


def check_config(node, path: Path, depth: int = 0) -> None:
    """Walk a model config; refuse Lambda layers and any object outside ``ALLOWED_OBJECTS``, naming it."""
    if depth > 200:
        raise UserError(f"{path}: the model config is nested too deeply to be a model edgeprune supports")
    if isinstance(node, dict):
        cn = node.get("class_name")
        if cn is not None:
            if cn in FORBIDDEN_LAYERS:
                raise UserError(f"{path} contains a {cn} layer, which runs arbitrary code; edgeprune refuses it. "
                                "Rebuild the model without Lambda layers")
            module = node.get("module")
            allowed = ALLOWED_OBJECTS.get(module) if module is not None else _ALL_NAMES
            registered = node.get("registered_name")
            if not isinstance(cn, str) or allowed is None or cn not in allowed or registered not in (None, cn):
                what = f"{module}.{cn}" if module is not None else str(cn)
                raise UserError(f"{path} uses {what!s:.120}, which is not a Keras layer or object edgeprune supports; "
                                "it is refused without loading (only built-in Keras layers, no custom objects)")
        for v in node.values():
            check_config(v, path, depth + 1)
    elif isinstance(node, list):
        for v in node:
            check_config(v, path, depth + 1)


def check_model(cfg, path: Path) -> None:
    """A model config, as data: only supported objects (``check_config``), then its layer graph, input size and
    parameter count (``safe_files.check_model_config``), before Keras builds anything."""
    check_config(cfg, path)
    check_model_config(cfg, str(path))


def check_keras_file(path: str | Path) -> dict:
    """Read a .keras archive without loading any code, through the bounded reader (``safe_files``): every member's
    size, the weights' HDF5 objects (no external storage or links, finite values) and the config (no Lambda layers,
    no unknown object, no cycle, bounded input and parameters)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    cfg = read_keras_archive(path).config
    check_model(cfg, path)
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
