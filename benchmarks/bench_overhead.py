"""The harness adds almost nothing: `edgeprune bench` p50 against a bare set_tensor/invoke loop on the same file.

Both run in fresh processes, interleaved, several times; the figure is the ratio of the median p50s (target <= 1.03).

    .venv/bin/python benchmarks/bench_overhead.py FILE.tflite [FILE2.tflite ...] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from edgeprune.device.bench import BenchOptions, bench

BARE = r"""
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2]))
it.allocate_tensors()
d = it.get_input_details()[0]
x = np.random.default_rng(0).integers(0, 256, d["shape"]).astype(d["dtype"])
for _ in range(10):
    it.set_tensor(d["index"], x); it.invoke()
ts = []
for _ in range(int(sys.argv[3])):
    s = time.perf_counter_ns(); it.set_tensor(d["index"], x); it.invoke(); ts.append(time.perf_counter_ns() - s)
print(np.percentile(np.array(ts) / 1e6, 50))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/bench_overhead.json")
    a = ap.parse_args()
    out = {}
    for f in a.files:
        harness, bare = [], []
        for _ in range(a.repeats):
            r = bench([f], BenchOptions(rounds=1,
                                        threads=[a.threads], runs=a.runs, min_time_s=0.0, max_images=1)).rows[0]
            harness.append(r.latency_ms.p50)
            p = subprocess.run([sys.executable, "-c", BARE, f, str(a.threads), str(a.runs)], capture_output=True, text=True, check=True)
            bare.append(float(p.stdout.strip()))
        out[f] = {"harness_p50_ms": harness, "bare_p50_ms": bare, "harness_median": statistics.median(harness),
                  "bare_median": statistics.median(bare)}
        out[f]["ratio"] = out[f]["harness_median"] / out[f]["bare_median"]
        print(f"{f}: harness p50 {out[f]['harness_median']:.4f} ms, bare loop {out[f]['bare_median']:.4f} ms, ratio {out[f]['ratio']:.3f} (target <= 1.03)")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
