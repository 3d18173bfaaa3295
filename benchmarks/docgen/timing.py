"""How far the timings can be trusted, and the speed checks: the bench's resolution on identical files
(benchmarks/bench_resolution.py), the input pipeline against in-memory arrays (benchmarks/pipeline_speed.py), the
harness against a bare loop (benchmarks/bench_overhead.py), and the Raspberry Pi path under emulation (make pi-check)."""
from __future__ import annotations

import statistics
from pathlib import Path

from edgeprune.device.intervals import bootstrap_ci

from .common import GOALS, RES, load, md_table, within


def resolution_section() -> list[str] | None:
    f = RES / "bench_resolution.json"
    if not f.is_file():
        return None
    d = load(f)
    rows, widest = [], 0.0
    for r in d["repeats"]:
        lo, hi = r["ci"]
        widest = max(widest, abs(1 - lo), abs(hi - 1))
        rows.append([r["file"], r["repeat"], f"{r['p50_ms']:.4f}", f"{r['ratio']:.4f}", f"[{lo:.4f}-{hi:.4f}]",
                     "no" if r["resolved"] else "yes"])
    o = d["options"]
    ratios = [r["ratio"] for r in d["repeats"]]
    return ["## Timing resolution: the same file twice", "",
            f"`python benchmarks/bench_resolution.py`: `edgeprune bench FILE --self-check --threads {o['threads']}` "
            f"at the defaults ({o['rounds']} rounds, at least {o['runs']} runs and {o['min_time_s']:g} s per file per "
            f"round), {len(d['repeats']) // len(d['files'])} times for each of the study's dense files. The "
            "self-check benches the reference file twice in the same interleaved rounds; the ratio of the two and "
            "its 95 % interval are what a bench call at these settings can resolve. Figures from "
            "`benchmarks/results/bench_resolution.json`.", "",
            md_table(["file", "repeat", "p50 ms", "ratio of the two copies", "95 % interval", "interval holds 1.0"],
                     rows), "",
            f"Resolution at the defaults: the ratios came out {min(ratios):.3f}-{max(ratios):.3f}, and every interval "
            f"lies within {100 * widest:.1f} % of 1.0 (goal: within {100 * GOALS['resolution']:g} %). "
            + within(widest, GOALS["resolution"]).capitalize() + "." +
            " Measured with nothing else running; work elsewhere on this shared machine widens it."
            + (f" {wrong} of {len(d['repeats'])} intervals left out 1.0 although the two files are one (by at most "
               f"{100 * max(abs(r['ratio'] - 1) for r in d['repeats'] if r['resolved']):.1f} %): a speed-up smaller "
               f"than about {100 * widest:.1f} % is not evidence, even where the bench calls it resolved."
               if (wrong := sum(r["resolved"] for r in d["repeats"])) else ""), ""]


def pipeline_lines() -> list[str]:
    f = RES / "pipeline_speed.json"
    if not f.is_file():
        return []
    ps = load(f)
    ratios = [a / b for a, b in zip(ps["folder_epoch_s"], ps["memory_epoch_s"])]
    lo, hi = bootstrap_ci(ratios)
    med = statistics.median(ratios)
    goal = GOALS["pipeline_ratio"]
    return [f"Input pipeline (`.venv/bin/python benchmarks/pipeline_speed.py`): {ps['images']:,} training images, "
            f"one epoch of the study CNN, {len(ratios)} pairs in ABBA order. From the JPEG folder through the "
            f"decode cache and tf.data: median {ps['folder_median_s']:.2f} s; from in-memory arrays "
            f"(`model.fit(x, y)`): {ps['memory_median_s']:.2f} s. The ratio, the median of the per-pair ratios: "
            f"**{med:.3f}**, 95 % bootstrap interval {lo:.3f}-{hi:.3f} (per pair {min(ratios):.2f}-{max(ratios):.2f}; "
            f"target <= {goal:g}: {'met' if hi <= goal else 'met by the median, not by the whole interval' if med <= goal else 'not met'}). "
            f"The one-off decode of the folder took {ps['first_decode_s']:.1f} s.", ""]


def overhead_lines() -> list[str]:
    f = RES / "bench_overhead.json"
    if not f.is_file():
        return []
    bo = load(f)
    rows = [[Path(k).parent.name + "/" + Path(k).name, f"{v['harness_median']:.4f}", f"{v['bare_median']:.4f}",
             f"{v['ratio']:.3f}", within(v["ratio"], GOALS["harness_ratio"])] for k, v in bo.items()]
    n = len(next(iter(bo.values()))["harness_p50_ms"])
    return ["Harness overhead (`.venv/bin/python benchmarks/bench_overhead.py FILES`): `edgeprune bench` p50 against "
            f"a bare `set_tensor`/`invoke` loop in a fresh process, {n} interleaved repeats at the script's default runs "
            f"and threads, as `benchmarks/study.sh` calls it (the file does not record them; target <= {GOALS['harness_ratio']:g}):", "",
            md_table(["file", "harness p50 ms", "bare p50 ms", "ratio", f"≤ {GOALS['harness_ratio']:g}"], rows), ""]


def speed_section() -> list[str] | None:
    body = pipeline_lines() + overhead_lines()
    return ["## Speed checks", "", *body] if body else None


def pi_check_section() -> list[str] | None:
    f = RES / "pi_check.json"  # `make pi-check` writes .cache/pi-check/pi-check.json; study.sh copies it here
    if not f.is_file():
        return None
    pc = load(f)
    return ["## The Raspberry Pi path on emulated aarch64 (`make pi-check`)", "",
            f"{pc['qemu']}; runtime {pc['runtime']['name']} {pc['runtime']['version']} on emulated aarch64 "
            f"(a Debian arm64 sysroot's CPython, device-side wheels only); x86 reference: {pc['x86']}. From "
            "`benchmarks/results/pi_check.json`.", "",
            *[f"- {line}" for line in pc["files"]], "",
            f"TensorFlow imported: {'yes' if pc['tensorflow_imported'] else 'never'}. Wall time of the whole check "
            f"with warm caches: {pc['wall_s']:.0f} s (it runs in CI). Emulated latencies mean nothing and are not "
            "reported.", ""]
