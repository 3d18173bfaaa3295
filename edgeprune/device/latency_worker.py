"""Child-process entry point of `latency measure`: ``python -m edgeprune.device.latency_worker SPEC.json OUT.jsonl``.

Times several probe files in one process (the start-up is paid once), writing one JSON line per file as soon as
it is timed, so a crash on one file loses only that file: the parent starts a new child for the rest.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import UserError, short
from . import runtime as rt
from .measure import check_model_file, time_runs, warm_up


def random_input(detail, rng) -> np.ndarray:
    dtype = np.dtype(detail.dtype)
    if dtype == np.float32:
        return rng.uniform(0, 1, detail.shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, detail.shape).astype(dtype)


def time_file(runtime, path: Path, threads: int | None, xnnpack: bool, warmup: int, runs: int,
              min_time_s: float = 0.0, warmup_s: float = 0.0) -> dict:
    check_model_file(path)
    session = runtime.open(str(path), threads=threads, xnnpack=xnnpack)
    session.allocate()
    ins = session.inputs()
    if len(ins) != 1:
        return {"error": f"{len(ins)} inputs; probe files have one"}
    x = random_input(ins[0], np.random.default_rng(0))
    warm_up(session.set_input, session.invoke, x, warmup, warmup_s)
    ms = time_runs(session.set_input, session.invoke, x, runs, min_time_s)
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)), "runs": int(len(ms))}


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    runtime = rt.load(spec.get("runtime"))
    with open(out_path, "a") as out:
        for item in spec["files"]:
            try:
                row = time_file(runtime, Path(item["path"]), spec.get("threads"), spec.get("xnnpack", True),
                                spec.get("warmup", 10), item["runs"], spec.get("min_time_s", 0.0),
                                spec.get("warmup_s", 0.0))
            except UserError as exc:
                row = {"error": str(exc)}
            except Exception as exc:  # this file's error; the next file still runs
                row = {"error": f"{exc.__class__.__name__}: {short(exc)}"}
            out.write(json.dumps({"file": item["file"], **row}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
