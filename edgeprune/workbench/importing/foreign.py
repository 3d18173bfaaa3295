"""A model file from elsewhere, loaded as a tf_keras model after its config has been checked as data.

Formats: a Keras 3 ``.keras`` file (rebuilt, see ``keras3``), a tf.keras (tf_keras) ``.keras`` or ``.h5`` file.
Every one is untrusted: Lambda layers, custom objects and any module other than the supported Keras layers are
refused before Keras sees the file (``modelio.check_model``), and the file itself is read through
``safe_files`` first (bounded archive members, no HDF5 external storage or links, a layer graph without cycles).
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UserError
from ...safe_files import h5_model_config
from ..modelio import check_model, load_model
from ..tf import keras
from .keras3 import is_keras3_file, load_keras3


def load_foreign(path: str | Path) -> tuple[keras.Model, str]:
    """The model and the format it was read as."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"model file not found: {path} (give a .keras or .h5 file)")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if is_keras3_file(path):
            return load_keras3(path), "keras3"
        return load_model(path), "tf.keras"
    if suffix in (".h5", ".hdf5"):
        check_model(h5_model_config(path)[0], path)  # every HDF5 object walked, the config checked as data
        try:
            return keras.models.load_model(path, compile=False), "h5"
        except Exception as exc:  # Keras raises many types for a bad file
            raise UserError(f"{path} could not be loaded as a Keras model: "
                            f"{' '.join(str(exc).split())[:200] or exc.__class__.__name__}") from None
    raise UserError(f"{path.name}: edgeprune imports .keras (Keras 3 or tf.keras) and .h5 files; "
                    "save the model with model.save('model.keras')")
