"""Sections of BENCHMARKS.md made only from committed files in benchmarks/results/ (issue 17's provenance rule).

`python benchmarks/sections.py` rewrites each section between its markers in BENCHMARKS.md
(`<!-- generated: NAME -->` ... `<!-- end: NAME -->`); `--check` exits 1 when the file differs from what the
committed results give. tests/test_benchmarks_doc.py runs the check, so a figure typed by hand, or a result file
changed without regenerating, fails the suite. Every number below is read from a result file.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.paired_accuracy import compare, unpack  # noqa: E402

RES = ROOT / "benchmarks" / "results"
DOC = ROOT / "BENCHMARKS.md"


def load(p):
    return json.loads(Path(p).read_text())


def md_table(cols, rows):
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"] +
                     ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}"


# --- recovery (issue 14) ------------------------------------------------------------------------------------------
def recipe(o: dict) -> str:
    parts = [o["lr_schedule"]]
    if o.get("steps", 1) > 1:
        parts.append(f"{o['steps']} cuts")
    if o.get("distill"):
        who = "control" if o.get("teacher") else "parent"
        parts.append(f"distilled from the {who} (α {o['distill_alpha']:g}, T {o['temperature']:g})")
    return ", ".join(parts)


def target(r: dict) -> str:
    o = r["options"]
    if r["method"] == "weight":
        return f"weight {round(100 * o['sparsity'])} %"
    if r["method"] == "filter":
        return f"filter {round(100 * o['ratio'])} %"
    return "control (unpruned)"


def plain_twin(r: dict, runs: dict) -> dict | None:
    """The run with r's options but no teacher (options a run's edgeprune did not have yet are not compared)."""
    skip = {"distill", "distill_alpha", "temperature", "teacher"}
    for o in runs.values():
        shared = (set(r["options"]) & set(o["options"])) - skip
        if not o["options"].get("distill") and all(r["options"][k] == o["options"][k] for k in shared):
            return o
    return None


def control_of(r: dict, runs: dict) -> dict | None:
    o = r["options"]
    for c in runs.values():
        co = c["options"]
        if c["method"] == "none" and (co["lr_schedule"], co["seed"], co["epochs"], co["lr"]) == \
                (o["lr_schedule"], o["seed"], o["epochs"], o["lr"]):
            return c
    return None


def recovery_section() -> list[str] | None:
    folder = RES / "recovery"
    if not folder.is_dir():
        return None
    order = {"none": 0, "weight": 1, "filter": 2}
    runs = {p.stem: load(p) for p in sorted(folder.glob("*.json"))}
    runs = dict(sorted(runs.items(), key=lambda kv: (order.get(kv[1]["method"], 9), target(kv[1]), kv[0])))
    if not runs:
        return None
    any_run = next(iter(runs.values()))
    epochs, lr = any_run["options"]["epochs"], any_run["options"]["lr"]
    parent = any_run["parent"]
    rows, best = [], {}
    for name, r in runs.items():
        c = control_of(r, runs)
        vs = compare(r["test_correct"], c["test_correct"]) if c and c is not r else None
        twin = plain_twin(r, runs) if r["options"].get("distill") else None
        rec = compare(r["test_correct"], twin["test_correct"]) if twin else None
        rows.append([name, target(r), recipe(r["options"]), f"{r['params']:,}", pct(r["test_accuracy"]),
                     vs.points() if vs else "-", f"{vs.mcnemar_p:.2g}" if vs else "-", rec.points() if rec else "-"])
        if vs and r["method"] != "none":
            key = target(r)
            if key not in best or vs.diff > best[key][1].diff:
                best[key] = (name, vs)
    lines = ["## Recovery: what wins back the accuracy pruning costs (issue 14)", "",
             f"`bash benchmarks/recovery.sh` on ../shared/data/cifar10-animals at 32 px: the study CNN "
             f"`{parent['name']}` ({parent['params']:,} parameters, test {pct(parent['test_accuracy'])} %), pruned and "
             f"fine-tuned for E = {epochs} epochs at {lr:g} (AdamW, light augmentation); each control is the unpruned "
             f"model fine-tuned the same E epochs with the same schedule and no teacher. The differences are paired, "
             f"on the same {len(unpack(any_run['test_correct'])):,} test images: ± one standard error, and McNemar's "
             "exact p for the images only one of the two got right. Figures from `benchmarks/results/recovery/` "
             "(one summary per run, written by `benchmarks/summarize_run.py`).", "",
             md_table(["run", "model", "recipe", "params", "test acc %", "vs its control (points ± s.e.)",
                       "McNemar p", "recovery: distilled − plain (points ± s.e.)"], rows), ""]
    seeds = [r for r in runs.values() if r["method"] == "none" and r["options"]["lr_schedule"] == "cosine"]
    if len(seeds) >= 2:
        a, b = seeds[0], seeds[1]
        d = compare(a["test_correct"], b["test_correct"])
        lines += [f"Training noise: the cosine control with seeds {a['options']['seed']} and {b['options']['seed']} "
                  f"differs by {d.points()} points (paired s.e. from the test images). A difference between two recipes "
                  "smaller than that seed-to-seed gap is not resolved by one seed each.", ""]
    cost = RES / "teacher_cost.json"
    if cost.is_file():
        c = load(cost)
        m = c["median_seconds"]
        lines += [f"The teacher's cost (`benchmarks/teacher_cost.py`, `benchmarks/results/teacher_cost.json`: the filter-50 "
                  f"student on {c['train_images']:,} training images, epochs 2-3 of a fit, median of {c['rounds']} "
                  f"interleaved rounds): a plain epoch took {m['plain']:.2f} s, a distilled one {m['distilled']:.2f} s "
                  f"(x{c['on_the_fly_over_plain']:.2f}, the teacher running on every augmented batch), and caching "
                  f"the teacher's outputs once per epoch would cost a forward pass of {m['teacher_forward']:.2f} s on "
                  f"top of a plain epoch (x{c['cached_over_plain']:.2f}), and teach from un-augmented images. "
                  "`--distill` therefore computes them on the fly.", ""]
    goals = {"filter 50 %": -1.5, "weight 90 %": -3.0, "filter 70 %": -6.0}
    lines += ["Against the issue's goals (the best variant of each, its difference from its own control):", ""]
    for key, goal in goals.items():
        if key in best:
            name, vs = best[key]
            verdict = "met" if vs.diff * 100 >= goal else "not met"
            lines.append(f"- {key}: goal ≥ control {goal:+.1f} points; best `{name}` {vs.points()}: {verdict}.")
    return lines + [""]


# --- Ray (issue 15) -------------------------------------------------------------------------------------------------
def jsonl(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        d = json.loads(line)
        out[d["cell"]] = d  # the last record of a cell counts
    return out


def ray_section() -> list[str] | None:
    folder = RES / "ray_sweep"
    if not (folder / "wall.json").is_file():
        return None
    wall, local, ray = load(folder / "wall.json"), jsonl(folder / "local.jsonl"), jsonl(folder / "ray.jsonl")
    slots = 2
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
             f"../shared/data/cifar10-animals at 32 px, first with the local executor, then on a local Ray instance on "
             f"this {wall['cpus']}-core machine ({slots} cells at a time, 1 CPU each). Figures from "
             "`benchmarks/results/ray_sweep/` (the two results.jsonl files and the wall times).", "",
             f"- Wall time: local {wall['local_wall_seconds']:.0f} s, Ray {wall['ray_wall_seconds']:.0f} s "
             f"(local / Ray = {wall['local_wall_seconds'] / wall['ray_wall_seconds']:.2f}). Two 1-thread cells at a time "
             "use the two cores better than one 2-thread cell (export and scoring, probably, keep one core idle).",
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
             f"to {max_diff:.2f} points, because training with 1 thread per cell (Ray) and 2 (local) sums in another "
             "order (one run of each; the seed-to-seed spread of a fine-tuning is in the recovery section).", "",
             md_table(["cell", "local s", "Ray s (work in the worker)", "Ray s (submitted to returned)", "local test %",
                       "Ray test %", "same params and nonzeros", "attempts"], rows), ""]
    return lines


# --- latency budget (issue 13) ----------------------------------------------------------------------------------------
def latency_section() -> list[str] | None:
    f = RES / "latency" / "summary.json"
    if not f.is_file():
        return None
    d = load(f)
    ms = lambda v: f"{v:.3f}"  # noqa: E731
    ci = lambda c: f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "-"  # noqa: E731
    lines = ["## Prune to a latency budget (issue 13)", "",
             f"`bash benchmarks/latency_budget.sh`: the study CNN at 64 px (`{d['run']}`, {d['run_params']:,} "
             f"parameters, test {pct(d['run_test'])} %) on ../shared/data/cifar10-animals, probed (`--formats fp32,int8 --round-to 8 --points 5 --variants 12`), the "
             f"probe measured on this machine as the device ({d['table']}), then pruned to targets and fine-tuned "
             f"{d['epochs']} epochs at {d['lr']:g}. Figures from `benchmarks/results/latency/` (the table, the check "
             "and summary.json).", "",
             "**Prediction**, on the whole models at random per-layer widths that were not used to fit the overhead:", ""]
    rows = []
    for fmt, c in d["check"].items():
        errs = [abs(r["predicted"] - r["measured"]) / r["measured"] for r in c["rows"]]
        rows.append([fmt, len(c["rows"]), f"{100 * c['median_abs_error']:.1f} %", f"{100 * max(errs):.1f} %",
                     f"{c['a']:.4f} + {c['b']:.3f} x sum", "met" if c["median_abs_error"] <= 0.10 else "not met"])
    lines += [md_table(["format", "variants", "median abs error", "largest", "fit (ms)", "goal ≤ 10 %"], rows), ""]
    dn = d["dense"]
    lines += [f"**Targets** (fp32, {d['threads']} threads): the dense model is predicted at {ms(dn['predicted_ms'])} ms "
              f"and measured at {ms(dn['measured_p50'])} ms (95 % interval {ci(dn['ci'])}; "
              f"{d['bench']['rounds']} interleaved rounds of {d['bench']['runs']} runs, `edgeprune bench --rounds`).", ""]
    rows = []
    for t in d["targets"]:
        diff = t["budget_minus_uniform"]
        rows.append([f"{t['fraction']:g}x", ms(t["target_ms"]), ms(t["predicted_ms"]),
                     f"{ms(t['budget_p50'])} {ci(t['budget_ci'])}", f"{t['measured_over_target']:.3f}",
                     "met" if t["measured_over_target"] <= 1.05 else "not met",
                     f"{t['uniform_ratio']:g}", f"{ms(t['uniform_p50'])} {ci(t['uniform_ci'])}",
                     f"{t['uniform_over_budget']:.3f}", f"{t['budget_params']:,} / {t['uniform_params']:,}",
                     f"{pct(t['budget_test'])} / {pct(t['uniform_test'])}",
                     f"{100 * diff['diff']:+.2f} ± {100 * diff['se']:.2f}" if diff else "-"])
    lines += [md_table(["target", "target ms", "predicted ms", "measured p50 ms [95 % CI]", "measured / target",
                        "goal ≤ 1.05", "uniform ratio at equal predicted latency", "uniform p50 ms [95 % CI]",
                        "uniform / budget", "params budget / uniform", "test % budget / uniform",
                        "budget − uniform (points ± paired s.e.)"], rows), ""]
    rep = RES / "latency" / "repeats.json"
    if rep.is_file():
        passes = load(rep)["passes"]
        lines += [f"**Why the targets are missed.** The same probe measured again {len(passes)} times "
                  "(`benchmarks/latency_repeats.py`, `benchmarks/results/latency/repeats.json`): the median validation "
                  "error per pass was " + ", ".join(f"{100 * q['fp32']['median_abs_error']:.1f}" for q in passes) +
                  " % (fp32) and " + ", ".join(f"{100 * q['int8']['median_abs_error']:.1f}" for q in passes) +
                  " % (int8); the prediction for the widths chosen at 0.5x was " +
                  ", ".join(ms(q["fp32"]["predicted"]["0.5x"]) for q in passes) + " ms, and at 0.3x " +
                  ", ".join(ms(q["fp32"]["predicted"]["0.3x"]) for q in passes) + " ms. One pass of the table moves "
                  "that much on this shared 2-core machine, and the greedy search picks the widths where the table it "
                  "was given runs low (narrow early layers, full late ones), so its own prediction is biased low. "
                  "Uniform pruning at the same prediction measured well below it. Not done: measuring the table in "
                  "several passes (median per file) and checking the chosen model on the device before accepting it, "
                  "as NetAdapt does.", ""]
    small = RES / "latency32" / "table.json"
    if small.is_file():
        from edgeprune.latency_model import LatencyModel, median_abs_error
        from edgeprune.readers import read_latency_table

        t32 = read_latency_table(small)
        fp, i8 = LatencyModel(t32, "fp32"), LatencyModel(t32, "int8")
        dense32 = next(v.measured for v in fp.variants if v.role == "fit" and v.widths == fp.widths)
        lines += [f"Why 64 px: at 32 px the dense fp32 model runs in {ms(dense32)} ms here, close to the per-invoke "
                  f"overhead that each segment's file pays again; the 32 px table (`benchmarks/results/latency32/`) "
                  f"predicted fp32 within {100 * median_abs_error(fp.check()):.1f} % but int8 only within "
                  f"{100 * median_abs_error(i8.check()):.1f} % (median absolute error).", ""]
    return lines


SECTIONS = {"recovery": recovery_section, "ray": ray_section, "latency": latency_section}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        body = make()
        if body is None:
            continue
        start, end = f"<!-- generated: {name} -->", f"<!-- end: {name} -->"
        block = "\n".join([start, *body, end])
        if start in text and end in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
        else:
            anchor = "## The study's own figures"
            i = text.index(anchor) if anchor in text else len(text)
            text = text[:i] + block + "\n\n" + text[i:]
    return text


def main(argv: list[str]) -> int:
    old = DOC.read_text()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("BENCHMARKS.md differs from what benchmarks/results/ gives; run python benchmarks/sections.py")
            return 1
        return 0
    DOC.write_text(new)
    print("written BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
