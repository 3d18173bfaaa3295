"""The bench's resolution at its defaults: the same file benched twice in the same interleaved rounds
(`edgeprune bench FILE --self-check`), several times, for each file given. Writes benchmarks/results/bench_resolution.json,
which BENCHMARKS.md's "Timing resolution" section is made from. Run it with nothing else running.

    .venv/bin/python benchmarks/bench_resolution.py FILE.tflite [FILE2.tflite ...] [--repeats 5] [--threads 2]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.device.bench import BenchOptions, bench, resolution
from edgeprune.device.defaults import DEFAULT_MIN_TIME_S, DEFAULT_ROUNDS
from edgeprune.jsonio import write_json

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_resolution.json")
    a = ap.parse_args()
    opts = BenchOptions(threads=[a.threads], rounds=DEFAULT_ROUNDS, min_time_s=DEFAULT_MIN_TIME_S, self_check=True,
                        max_images=1)  # accuracy is not the point: score one image
    rows, device = [], None
    for i in range(a.repeats):
        for f in a.files:  # the files alternate, so a slow spell of the machine does not land on one file
            res = bench([f], opts)
            device = res.device
            again = resolution(res.rows)[0]
            rows.append({"file": f"{f.parent.name}/{f.name}", "repeat": i + 1, "p50_ms": res.rows[0].p50,
                         "ratio": again.speedup, "ci": again.speedup_ci, "resolved": again.speedup_resolved})
            print(f"{rows[-1]['file']} #{i + 1}: {again.speedup:.4f} [{again.speedup_ci[0]:.4f}-{again.speedup_ci[1]:.4f}]",
                  flush=True)
    write_json(a.json, {"options": {"threads": a.threads, "rounds": opts.rounds, "runs": opts.runs,
                                    "min_time_s": opts.min_time_s},
                        "files": [f"{f.parent.name}/{f.name}" for f in a.files], "device": device, "repeats": rows})


if __name__ == "__main__":
    main()
