"""Issue 15: sweeps on Ray against the local executor (benchmarks/ray_sweep.sh, benchmarks/results/ray_sweep/)."""
from __future__ import annotations

import statistics

from edgeprune.study.executors.ray_cluster import thread_env

from .common import RES, jsonl, load, md_table, pct


def ray_section() -> list[str] | None:
    folder = RES / "ray_sweep"
    if not (folder / "wall.json").is_file():
        return None
    wall, local, ray = load(folder / "wall.json"), jsonl(folder / "local.jsonl"), jsonl(folder / "ray.jsonl")
    cpc = wall["cpus_per_cell"]  # `sweep --executor ray --cpus-per-cell`, as benchmarks/ray_sweep.sh ran it
    slots = int(wall["cpus"] // cpc)  # cells at a time on this machine
    threads = int(thread_env(cpc)["TF_NUM_INTRAOP_THREADS"])  # training threads in a Ray cell
    timed = sorted((r for r in ray.values() if r.get("timing")), key=lambda r: r["timing"]["submitted_to_returned_seconds"])
    first = timed[:slots]  # the first wave waited for no free slot: its extra time is Ray's own
    overhead = statistics.median(r["timing"]["submitted_to_returned_seconds"] - r["timing"]["worker_seconds"] for r in first)
    work = statistics.median(r["timing"]["worker_seconds"] for r in timed)
    land = statistics.median(r["timing"]["land_seconds"] for r in timed)
    returned = statistics.median(r["timing"]["returned_bytes"] for r in timed)
    connect = timed[0]["timing"]["connect_seconds"]
    rows = []
    for key in local:
        a, b = local[key], ray.get(key, {})
        same = all(a.get(k) == b.get(k) for k in ("params", "nonzero_params"))
        t = b.get("timing") or {}
        rows.append([key, f"{a['seconds']:.1f}", f"{t.get('worker_seconds', float('nan')):.1f}",
                     f"{t.get('submitted_to_returned_seconds', float('nan')):.1f}", pct(a["test_accuracy"]),
                     pct(b.get("test_accuracy")), "yes" if same else "no", b.get("attempts", "-")])
    per_cell = work + overhead
    max_diff = max(abs(100 * (local[k]["test_accuracy"] - ray[k]["test_accuracy"])) for k in local if k in ray)
    lines = ["## Sweeps on Ray against the local executor (issue 15)", "",
             f"`bash benchmarks/ray_sweep.sh`: the same {len(local)}-cell sweep ({wall['grid']}) of `cifar-baseline` on "
             f"../shared/data/cifar10-animals, first with the local executor, then on a local Ray instance on "
             f"this {wall['cpus']}-core machine ({slots} cells at a time, {cpc:g} CPU each). Figures from "
             "`benchmarks/results/ray_sweep/` (the two results.jsonl files and the wall times).", "",
             f"- Wall time: local {wall['local_wall_seconds']:.0f} s, Ray {wall['ray_wall_seconds']:.0f} s "
             f"(local / Ray = {wall['local_wall_seconds'] / wall['ray_wall_seconds']:.2f})."
             + (f" {slots} cells of {threads} thread(s) at a time used the {wall['cpus']} cores better than one cell "
                "with all of them (export and scoring, probably, leave cores idle)."
                if wall["ray_wall_seconds"] < wall["local_wall_seconds"] else ""),
             f"- Ray's overhead: starting the local instance {connect:.1f} s, once; per cell, about {overhead:.1f} s from "
             f"submission to return beyond the cell's own work (median of the first {slots} cells, which waited for no "
             f"free slot: a worker's start, its TensorFlow import, the transfers), {returned / 1e6:.1f} MB returned "
             f"(the run folder and the bundle, whose test set is most of it; median) and {land * 1000:.0f} ms to land "
             "them on the driver. The dataset goes into the object store once, not per cell.",
             f"- Expected throughput on N nodes like this one ({slots} cells at a time each): about N x {slots} / "
             f"({work:.0f} s + {overhead:.1f} s) = N x {slots / per_cell * 3600:.0f} cells per hour for cells like these "
             f"(median {work:.0f} s of work in a worker), until the driver's serial landing ({land * 1000:.0f} ms a cell) "
             f"binds, near {3600 / max(land, 1e-3):,.0f} cells per hour; over a network, add each cell's "
             f"{returned / 1e6:.0f} MB at the link's speed.",
             "- The rows agree on what the grid decides (parameters, nonzero weights); test accuracies differ by up "
             f"to {max_diff:.2f} points, because training with {threads} thread(s) per cell (Ray) and TensorFlow's "
             f"default of {wall['cpus']} (local) sums in another order (one run of each; the seed-to-seed spread of a fine-tuning is in the recovery section).", "",
             md_table(["cell", "local s", "Ray s (work in the worker)", "Ray s (submitted to returned)", "local test %",
                       "Ray test %", "same params and nonzeros", "attempts"], rows), ""]
    return lines
