"""Epoch time from a JPEG folder (decoded once, cached) against the same epoch from in-memory arrays.

Target (issue: foundation): with decoded images cached, an epoch read from a JPEG folder takes at most 1.15x the
time of the same epoch from in-memory arrays. Both sides train the same model for one epoch, interleaved, several
times; the figure is the ratio of the medians.

    .venv/bin/python benchmarks/pipeline_speed.py [--data ../shared/data/cifar10-animals] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from edgeprune.data.arrays import load_split_arrays, prepare
from edgeprune.workbench.tf import keras
from edgeprune.workbench.training.input_pipeline import train_dataset
from edgeprune.workbench.training.models import build_cnn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cifar10-animals")
    ap.add_argument("--limit-per-class", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--json", default="benchmarks/results/pipeline_speed.json")
    a = ap.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="edgeprune-cache-"))
    t0 = time.perf_counter()
    manifest, arrays = prepare(a.data, 32, 42, cache, limit_per_class=a.limit_per_class)
    first_decode = time.perf_counter() - t0
    x_mem, y_mem = arrays["train"].x.astype("float32"), arrays["train"].y
    model = build_cnn(len(manifest.classes), 32)
    model.compile(keras.optimizers.AdamW(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_mem[:256], y_mem[:256], batch_size=64, epochs=1, verbose=0)  # build and trace once
    folder, memory = [], []

    def from_folder():
        t = time.perf_counter()
        cached = load_split_arrays(manifest, 32, cache)  # from the folder's manifest, through the decode cache
        model.fit(train_dataset(cached["train"].x, cached["train"].y, 64, 42, "none"), epochs=1, verbose=0)
        folder.append(time.perf_counter() - t)

    def from_memory():
        t = time.perf_counter()
        model.fit(x_mem, y_mem, batch_size=64, epochs=1, shuffle=True, verbose=0)
        memory.append(time.perf_counter() - t)

    for i in range(a.repeats):  # ABBA order, so drift in the machine's speed does not favour one side
        for step in ((from_folder, from_memory) if i % 2 == 0 else (from_memory, from_folder)):
            step()
    out = {"images": int(len(y_mem)), "first_decode_s": first_decode, "folder_epoch_s": folder, "memory_epoch_s": memory,
           "folder_median_s": statistics.median(folder), "memory_median_s": statistics.median(memory)}
    out["ratio"] = out["folder_median_s"] / out["memory_median_s"]
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=2))
    print(f"{len(y_mem)} images: first decode {first_decode:.1f} s; epoch from folder (cached) median "
          f"{out['folder_median_s']:.2f} s, from in-memory arrays {out['memory_median_s']:.2f} s: ratio {out['ratio']:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
