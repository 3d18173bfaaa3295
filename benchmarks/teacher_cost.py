"""What the teacher costs per epoch, measured two ways (issue 14: "computed whichever way is faster, measured").

- on the fly: the teacher runs on every augmented batch inside the training step (what `--distill` does);
- cached: the teacher's outputs computed once per epoch on the un-augmented images, then looked up; its cost is
  one teacher forward pass over the training set per epoch on top of a plain epoch.

Plain, distilled and teacher-forward epochs are timed interleaved (plain, kd, forward; plain, kd, forward; ...) on
the real study model and data; writes benchmarks/results/teacher_cost.json. Run on an idle machine:
    .venv/bin/python benchmarks/teacher_cost.py [RUN]   (default benchmarks/work/recovery/cifar-baseline)
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.workbench.metrics.evaluate import predict  # noqa: E402
from edgeprune.workbench.modelio import load_model  # noqa: E402
from edgeprune.workbench.pruning.filters.plan import FilterPlan  # noqa: E402
from edgeprune.workbench.pruning.filters.plan import apply as remove_filters  # noqa: E402
from edgeprune.workbench.run_files import run_data  # noqa: E402
from edgeprune.workbench.training.distillation import DistillSettings  # noqa: E402
from edgeprune.workbench.training.fit import FitConfig, fit  # noqa: E402
from edgeprune.workspace import Run  # noqa: E402

ROUNDS = 3
EPOCHS = 3  # the first epoch of a fit traces the training step; epochs 2 and 3 are timed


class EpochTimes:
    """Seconds per epoch (a tf_keras callback made without importing it at module level)."""

    def __new__(cls):
        from edgeprune.workbench.tf import keras

        class _Times(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.t0)

        return _Times()


def main() -> None:
    run = Run(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks/work/recovery/cifar-baseline")
    _, data = run_data(run, run.path.parent)
    teacher = load_model(run.model)
    times: dict[str, list[float]] = {"plain": [], "distilled": [], "teacher_forward": []}
    for _ in range(ROUNDS):
        for kind in times:
            student = remove_filters(load_model(run.model), FilterPlan(ratio=0.5)).model
            if kind == "teacher_forward":
                t0 = time.perf_counter()
                predict(teacher, data["train"].x)
                times[kind].append(time.perf_counter() - t0)
            else:
                cfg = FitConfig(epochs=EPOCHS, lr=3e-4, patience=0, augment="light",
                                distill=DistillSettings() if kind == "distilled" else None)
                cb = EpochTimes()
                fit(student, data, cfg, teacher=teacher if kind == "distilled" else None, callbacks=[cb])
                times[kind].append(statistics.median(cb.seconds[1:]))
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"run": run.name, "train_images": int(len(data["train"].y)), "rounds": ROUNDS, "seconds": times,
           "median_seconds": med, "on_the_fly_over_plain": med["distilled"] / med["plain"],
           "cached_over_plain": (med["plain"] + med["teacher_forward"]) / med["plain"],
           "machine": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}}
    (ROOT / "benchmarks/results/teacher_cost.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["median_seconds"]), f"on the fly x{out['on_the_fly_over_plain']:.2f}",
          f"cached x{out['cached_over_plain']:.2f}")


if __name__ == "__main__":
    main()
