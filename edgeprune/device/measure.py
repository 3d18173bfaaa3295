"""Measure one TFLite model in this process: load, allocate, first run, latency, accuracy, memory.

Runs inside the child process that ``bench`` starts for each model, so native crashes stay there.
"""
from __future__ import annotations

import gzip
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, short
from . import runtime as rt
from .runtime import TensorInfo


@dataclass
class Spec:
    model: str
    threads: int | None = None
    xnnpack: bool = True
    runtime: str | None = None
    data: str | None = None  # .npz path or folder
    warmup: int = 10
    runs: int = 100
    min_time_s: float = 0.0  # keep timing past `runs` until this much time has passed (a burst then moves no p50)
    max_images: int | None = None
    predictions: bool = False  # return the top-1 of every image (export verification)
    score: bool = True  # score accuracy (once per file is enough: later rounds only time)


def percentiles(ms: np.ndarray) -> dict:
    return {"mean": float(ms.mean()), "std": float(ms.std()), "min": float(ms.min()),
            "p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99))}


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def to_input(images: np.ndarray, detail: TensorInfo) -> np.ndarray:
    """Raw 0-255 RGB pixels into the model's input type: float32 as is, uint8/int8 by scale and zero point."""
    dtype = np.dtype(detail.dtype)
    if dtype == np.float32:
        return images.astype(np.float32)
    scale, zero = detail.scale, detail.zero_point
    if dtype in (np.uint8, np.int8):
        if scale == 0:  # unquantized integer input: raw pixels
            return images.astype(dtype) if dtype == np.uint8 else (images.astype(np.int16) - 128).astype(np.int8)
        info = np.iinfo(dtype)
        q = np.round(images.astype(np.float32) / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)
    raise UserError(f"input type {dtype} is not supported (float32, uint8 or int8)")


def check_model_file(path: Path) -> None:
    """A TFLite file, by its flatbuffer identifier, before any runtime sees it (bench's and latency's workers)."""
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    data = path.read_bytes()
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise UserError(f"{path.name} is not a TFLite flatbuffer (no TFL3 identifier)")


def measure(spec: Spec) -> dict:
    """The whole measurement; raises UserError for a model or data that does not fit."""
    from .testdata import bundled_testset, load_folder, load_npz, read_labels

    path = Path(spec.model)
    check_model_file(path)
    runtime = rt.load(spec.runtime)
    out: dict = {"runtime": {"name": runtime.name, "version": runtime.version}, "xnnpack": spec.xnnpack,
                 "threads": spec.threads}
    t0 = time.perf_counter()
    try:
        session = runtime.open(str(path), threads=spec.threads, xnnpack=spec.xnnpack)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"{path.name} could not be loaded: {short(exc)}") from None
    t1 = time.perf_counter()
    try:
        session.allocate()
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"{path.name}: allocate_tensors failed: {short(exc)}") from None
    t2 = time.perf_counter()
    out["load_ms"], out["allocate_ms"] = 1e3 * (t1 - t0), 1e3 * (t2 - t1)
    out["init_ms"] = out["load_ms"] + out["allocate_ms"]
    ins, outs = session.inputs(), session.outputs()
    if len(ins) != 1 or len(outs) != 1:
        raise UserError(f"{path.name} has {len(ins)} inputs and {len(outs)} outputs; bench handles image classifiers with one of each")
    inp, outp = ins[0], outs[0]
    shape = inp.shape
    if len(shape) != 4 or shape[3] != 3 or shape[1] <= 0:
        raise UserError(f"{path.name}: input shape {shape} is not (1, H, W, 3)")
    out["input"] = {"shape": shape, "dtype": inp.dtype.name, "scale": inp.scale, "zero_point": inp.zero_point}
    size = shape[1]

    labels = read_labels(path)
    n_classes = int(np.prod(outp.shape[1:]))
    if labels is not None and len(labels) != n_classes:
        raise UserError(f"labels.txt beside {path.name} names {len(labels)} classes but the model has {n_classes} outputs; "
                        "export the bundle again")
    x = y = None
    source = spec.data or (str(bundled_testset(path)) if bundled_testset(path) else None)
    if source:
        if Path(source).is_dir():
            x, y, labels = load_folder(source, size, labels)
        else:
            x, y = load_npz(source)
        if x.shape[1:3] != (shape[1], shape[2]):
            raise UserError(f"data images are {x.shape[1]}x{x.shape[2]} but {path.name} takes {shape[1]}x{shape[2]}; "
                            "export the bundle again or pass --data at the model's size")
        if spec.max_images:
            x, y = x[: spec.max_images], y[: spec.max_images]
    if y is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise UserError(f"data labels must be from 0 to {n_classes - 1} for {path.name}, "
                        f"found {int(y.min())} to {int(y.max())}")
    out["data"] = source
    sample = to_input(x[:1] if x is not None else np.random.default_rng(0).integers(0, 256, (1, *shape[1:]), dtype=np.uint8), inp)

    t3 = time.perf_counter()
    session.set_input(sample)
    session.invoke()
    out["first_ms"] = 1e3 * (time.perf_counter() - t3)
    set_input, invoke = session.set_input, session.invoke
    warm_up(set_input, invoke, sample, spec.warmup)
    ms = time_runs(set_input, invoke, sample, spec.runs, spec.min_time_s)
    out["latency_ms"] = percentiles(ms)
    out["times_ms"] = ms.tolist()  # the raw timings: bench pools them over rounds, and drops them from its rows
    out["images_per_s"] = 1000.0 / out["latency_ms"]["mean"]

    if x is not None and spec.score:
        preds = np.empty(len(x), dtype=np.int64)
        for i in range(len(x)):
            session.set_input(to_input(x[i : i + 1], inp))
            session.invoke()
            preds[i] = int(np.argmax(session.output()[0]))
        correct = preds == y
        conf = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(conf, (y, preds), 1)
        totals = conf.sum(axis=1)
        out.update({
            "accuracy": float(correct.mean()), "n_images": int(len(x)), "labels": labels,
            "per_class_accuracy": [float(conf[k, k] / totals[k]) if totals[k] else None for k in range(n_classes)],
            "confusion": conf.tolist(),
        })
        if spec.predictions:
            out["predictions"] = preds.tolist()
    elif x is None:
        out.update({"accuracy": None, "n_images": 0, "note": "no test data: accuracy not measured, latency on generated input"})
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    import sys

    out["tensorflow_imported"] = "tensorflow" in sys.modules  # true only when tf.lite was the runtime
    return out


MAX_RUNS = 200_000


def warm_up(set_input, invoke, sample, runs: int, min_time_s: float = 0.0) -> None:
    """Untimed runs: at least ``runs`` and at least ``min_time_s`` seconds (the first hundred or so runs after
    loading were measured slower, 0.34 against 0.19 ms on a 32 px model)."""
    end = time.perf_counter() + min_time_s
    n = 0
    while n < runs or time.perf_counter() < end:
        set_input(sample)
        invoke()
        n += 1


def time_runs(set_input, invoke, sample, runs: int, min_time_s: float, clock=time.perf_counter_ns) -> np.ndarray:
    """Per-run times (ms) of at least ``runs`` runs that together span at least ``min_time_s`` seconds: a short
    model's 100 runs last a few milliseconds, so one burst of other work would move their median. ``clock``: in
    nanoseconds (a test passes its own)."""
    times: list[int] = []
    end = clock() + int(min_time_s * 1e9)
    while len(times) < runs or (clock() < end and len(times) < MAX_RUNS):
        s = clock()
        set_input(sample)
        invoke()
        times.append(clock() - s)
    return np.asarray(times, dtype=np.float64) / 1e6
