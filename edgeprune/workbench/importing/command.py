"""`edgeprune import`: a model trained elsewhere becomes a run (split manifest, scores, run.json with its source),
so prune, sensitivity, export, bench and sweep work on it unchanged."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data.arrays import SplitArrays
from ...data.manifest import Manifest
from ...errors import UserError
from ...options.train import ImportOptions
from ...progress import Reporter, Silent
from ...workspace import Run, check_replaceable_run, run_folder, staging_dir
from .preprocess import PREPROCESS


def _check(o: ImportOptions) -> None:
    if o.preprocess not in PREPROCESS:
        raise UserError(f"--preprocess must be one of {', '.join(PREPROCESS)}, got {o.preprocess!r}")
    if o.image_size is not None and not 8 <= o.image_size <= 1024:
        raise UserError("--image-size must be between 8 and 1024")
    if o.limit_per_class is not None and o.limit_per_class < 3:
        raise UserError("--limit-per-class must be at least 3")
    if o.labels is not None and not Path(o.labels).is_file():
        raise UserError(f"labels file not found: {o.labels}")
    if not 0 <= o.seed < 2 ** 32:
        raise UserError(f"--seed must be from 0 to {2 ** 32 - 1}, got {o.seed}")


def _input_size(model, asked: int | None) -> tuple[int, int]:
    """The square image size the model takes, and its channels: 3 (RGB), or 1 (grayscale, which ``fold`` turns into
    RGB with a fixed luma layer)."""
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) != 1 or len(model.outputs) != 1:
        raise UserError(f"the model has {len(shapes)} inputs and {len(model.outputs)} outputs; edgeprune imports image "
                        "classifiers with one of each")
    shape = tuple(shapes[0])
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise UserError(f"the model's input shape is {shape}; edgeprune imports models of RGB or grayscale images "
                        "(None, H, W, 3) or (None, H, W, 1)")
    channels = int(shape[3])
    h, w = shape[1], shape[2]
    if h is None or w is None:
        if asked is None:
            raise UserError("the model takes images of any size; give the size to use with --image-size")
        return asked, channels
    if h != w:
        raise UserError(f"the model takes {h}x{w} images; edgeprune works with square inputs")
    if asked is not None and asked != h:
        raise UserError(f"--image-size {asked} differs from the model's input size {h}; leave --image-size out")
    return int(h), channels


MAX_LABELS_BYTES = 1 << 20


def _read_labels(path: str, classes: list[str]) -> list[str]:
    """The model's output order. The file's lines are not echoed unless they are the dataset's classes: --labels
    pointing at another file (/etc/passwd) must not print it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LABELS_BYTES + 1)
        if len(raw) > MAX_LABELS_BYTES:
            raise UserError(f"{path} is larger than a labels file ({MAX_LABELS_BYTES:,} bytes at most)")
        names = [l.strip() for l in raw.decode("utf-8").splitlines() if l.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} cannot be read as text ({exc.__class__.__name__})") from None
    if sorted(names) != sorted(classes) or len(set(names)) != len(names):
        missing = [c for c in classes if c not in names]
        why = (f"{len(names)} line(s), {len([n for n in names if n not in classes])} of them not a class of the "
               f"dataset" + (f", missing {', '.join(missing[:8])}" if missing else "")
               + (", a class named twice" if len(set(names)) != len(names) else ""))
        raise UserError(f"{path} has {why}; it must name each class of the dataset once, in the model's output "
                        f"order ({', '.join(classes)})")
    return names


def _relabel(manifest: Manifest, data: dict[str, SplitArrays], order: list[str]) -> tuple[Manifest, dict]:
    """The manifest and arrays with classes in the model's output order."""
    new_index = np.array([order.index(c) for c in manifest.classes])
    splits = {k: [(p, int(new_index[y])) for p, y in v] for k, v in manifest.splits.items()}
    m = Manifest(root=manifest.root, classes=order, seed=manifest.seed, splits=splits, skipped=manifest.skipped,
                 source=manifest.source)
    return m, {k: SplitArrays(a.x, new_index[a.y].astype(np.int32)) for k, a in data.items()}


def _preflight(src: Path) -> None:
    """The file read through the bounded reader before TensorFlow is even imported: a zip or HDF5 bomb, external
    storage, a link, non-finite weights, a cycle in the layer graph or a huge input is refused in a fraction of a
    second and a few tens of MB (``load_foreign`` reads it again through the same checks, then loads it)."""
    from ...safe_files import check_model_config, h5_model_config, read_keras_archive

    if not src.is_file():
        raise UserError(f"model file not found: {src} (give a .keras or .h5 file)")
    suffix = src.suffix.lower()
    if suffix == ".keras":
        check_model_config(read_keras_archive(src).config, str(src))
    elif suffix in (".h5", ".hdf5"):
        check_model_config(h5_model_config(src)[0], str(src))


def import_model(o: ImportOptions, reporter: Reporter | None = None) -> Run:
    reporter = reporter or Silent()
    _check(o)
    workspace = Path(o.workspace)
    src = Path(o.model).expanduser()
    final = run_folder(workspace, o.out, src.stem.replace(" ", "-") or "imported")
    check_replaceable_run(final, o.force)
    t0 = time.perf_counter()
    _preflight(src)
    from ...data.arrays import prepare
    from ..metrics.macs import count_macs
    from ..run_files import scores, write_run
    from ..training.train import resolve_data
    from .foreign import load_foreign
    from .preprocess import fold

    model, fmt = load_foreign(src)
    size, channels = _input_size(model, o.image_size)
    if channels == 1 and o.preprocess == "imagenet":
        raise UserError("the model takes grayscale images, and ImageNet statistics are per RGB channel; use "
                        "--preprocess rescale, mobilenet or none")
    n_out = int(model.outputs[0].shape[-1])
    manifest, data = prepare(resolve_data(o.data, workspace), size, o.seed, limit_per_class=o.limit_per_class,
                             reporter=reporter)
    if o.data == "demo":
        manifest.source = "demo"
    if n_out != len(manifest.classes):
        raise UserError(f"the model has {n_out} outputs but the dataset has {len(manifest.classes)} classes "
                        f"({', '.join(manifest.classes)})")
    if o.labels:
        manifest, data = _relabel(manifest, data, _read_labels(o.labels, manifest.classes))
    model = fold(model, o.preprocess, size, channels)
    info = {
        "kind": "import", "arch": "imported", "image_size": size, "method": "none",
        "data": {"source": manifest.source, "root": str(manifest.root), "counts": manifest.counts(),
                 "skipped": len(manifest.skipped)},
        **scores(model, data), "macs": count_macs(model), "seconds": round(time.perf_counter() - t0, 2),
        "source": {"file": str(src.resolve()), "format": fmt, "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                   "preprocess": o.preprocess, "labels": manifest.classes if o.labels else None,
                   "input_channels": channels},
        "options": {"augment": "light", "preprocess": o.preprocess, "seed": o.seed},
    }
    reporter.log(f"imported {src.name} ({fmt}): val {100 * info['val_accuracy']:.2f}%, test {100 * info['test_accuracy']:.2f}%")
    chance = 1.0 / len(manifest.classes)
    if info["test_accuracy"] < 1.5 * chance:
        info["warning"] = (f"test accuracy {100 * info['test_accuracy']:.1f}% is near chance ({100 * chance:.1f}%): check "
                           "--preprocess and --labels, and the model's BatchNorm statistics")
        reporter.log("warning: " + info["warning"])
    return write_run(staging_dir(final.parent, final.name), final, model, manifest, info, o.force)
