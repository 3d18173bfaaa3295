"""Reading a run's data and writing a finished run: shared by train, prune and the sweep."""
from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.arrays import SplitArrays, load_split_arrays
from ..data.manifest import Manifest
from ..errors import UserError
from ..jsonio import to_jsonable, write_json
from ..paired_accuracy import pack
from ..progress import Reporter
from ..records import RunRecord
from ..safe_files import check_model_config, read_keras_archive
from ..workspace import MODEL_FILE, RUN_FILE, SPLIT_FILE, Run, finalize
from .metrics.evaluate import accuracy, correct
from .modelio import count_params, save_model
from .tf import keras, tf

_PRELOADED: dict[tuple[str, int], dict[str, SplitArrays]] = {}


def preload(manifest_hash: str, size: int, arrays: dict[str, SplitArrays]) -> None:
    """Arrays decoded elsewhere (a sweep's driver) for the manifest with this hash at this image size: run_data
    uses them instead of reading the images, which need not exist on this machine."""
    _PRELOADED[(manifest_hash, size)] = arrays


def check_input_size(run: Run, size: int) -> None:
    """run.json's image size is the model's input (read from its config as data, before anything is built): the
    images are decoded at that size, and another one failed deep in TensorFlow."""
    est = check_model_config(read_keras_archive(run.model, weights=False).config, str(run.model))
    side = est.input_shape[:2] if est.input_shape and len(est.input_shape) == 3 else None
    if side and all(side) and tuple(side) != (size, size):
        raise UserError(f"{run.path / RUN_FILE} says image_size {size}, but {run.model} takes "
                        f"{side[0]}x{side[1]} images; the run folder was edited or mixed up, re-create it")


def run_data(run: Run, workspace: Path, reporter: Reporter | None = None) -> tuple[Manifest, dict[str, SplitArrays]]:
    """The run's manifest and decoded arrays: the same images every later command scores."""
    size = run.info.image_size
    check_input_size(run, size)
    if _PRELOADED:
        manifest = Manifest.load(run.split, read_images=False)
        arrays = _PRELOADED.get((manifest.hash, size))
        if arrays is not None:
            return manifest, arrays
    manifest = Manifest.load(run.split)
    return manifest, load_split_arrays(manifest, size, reporter=reporter)


def versions() -> dict:
    out = {"edgeprune": __version__, "tensorflow": tf.__version__, "tf_keras": keras.__version__,
           "python": platform.python_version()}
    try:
        from importlib.metadata import version

        out["tensorflow_model_optimization"] = version("tensorflow-model-optimization")
    except Exception:
        pass
    return out


def scores(model: keras.Model, data: dict[str, SplitArrays]) -> dict:
    """Validation and test accuracy, and which test images were right (for paired comparisons)."""
    test = correct(model, data["test"].x, data["test"].y)
    return {"val_accuracy": accuracy(model, data["val"].x, data["val"].y),
            "test_accuracy": float(np.mean(test)) if len(test) else float("nan"),
            "test_correct": pack(test) if len(test) else None}


def write_run(staging: Path, final: Path, model: keras.Model, manifest: Manifest, info: dict, force: bool) -> Run:
    """Save model, split and run.json into the staging folder, then move it into place atomically."""
    staging.mkdir(parents=True, exist_ok=True)
    save_model(model, staging / MODEL_FILE)
    if not (staging / SPLIT_FILE).is_file():
        manifest.save(staging / SPLIT_FILE)
    info = {"name": final.name, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info,
            **count_params(model), "split_hash": manifest.hash, "classes": manifest.classes,
            "versions": versions()}
    record = RunRecord.from_dict(to_jsonable(info), str(staging / RUN_FILE))  # one place for run.json's keys
    write_json(staging / RUN_FILE, record.to_dict())
    return Run(finalize(staging, final, force))


def copy_split(src: Run, staging: Path) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.split, staging / SPLIT_FILE)
