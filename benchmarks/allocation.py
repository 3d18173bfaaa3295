"""Issue 24, item 4: allocation at equal latency. Is uniform the wrong way to share filter-50's latency among the
layers, once the fine-tuning budget is real?

At filter-50's measured latency (the budget study's `f50-plateau-e30`: ratio 0.5 in every layer), three other
allocations of the same study CNN, each fine-tuned exactly like it (E epochs, plateau at the parent's rate, early
stopping off, seed 42):
  - global:      `--scope global` at a ratio;
  - budget:      `--target-ms` (widths chosen on the latency table by L1 importance);
  - sensitivity: `--target-ms` with `--sensitivity` (widths chosen by the per-layer accuracy drops).
Equal latency is measured, not predicted: for each allocation, candidate widths (global ratios; targets around the
table's prediction for filter-50) are made as untrained fp32 files and timed here beside filter-50's widths, and the
candidate measured nearest is the one pruned and fine-tuned (`pick`, a short bench on a quiet machine). Each model is
paired on the test images against uniform and against the dense control of the same E (`control-plateau-e30`); the
trained fp32 files of all four and the dense model are timed side by side again at the end. Writes
benchmarks/results/allocation/summary.json, and a copy of the latency table beside it (table.json).

Run by benchmarks/allocation.sh (it makes the uniform cell, its control and the sensitivity file first):
  python benchmarks/allocation.py pick      # candidate widths, timed (quiet machine, minutes)
  python benchmarks/allocation.py prepare   # prune and export the picks (may share the machine)
  python benchmarks/allocation.py           # whatever is missing, then time the trained files (quiet machine)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.latency.model import LatencyModel, describe  # noqa: E402
from edgeprune.options.prune import PruneOptions  # noqa: E402
from edgeprune.paired_accuracy import compare  # noqa: E402
from edgeprune.pruner import prune  # noqa: E402
from edgeprune.readers import read_latency_table  # noqa: E402
from edgeprune.workspace import resolve_run  # noqa: E402
from latency_budget import ratio_ci, timed  # noqa: E402
from summarize_run import summarize  # noqa: E402

WS = ROOT / os.environ.get("WS", "benchmarks/work/budget")  # relative to the repository
TABLE = ROOT / "benchmarks/work/optimize/table.json"  # the study CNN at 32 px, measured here (benchmarks/optimize.sh)
SENSITIVITY = WS / "alloc-sensitivity.json"
OUT = ROOT / os.environ.get("ALLOC_OUT", "benchmarks/results/allocation/summary.json")
E, LR, THREADS = int(os.environ.get("E", 30)), float(os.environ.get("LR", 1e-3)), 2  # E and LR: as budget.sh's cell
UNIFORM, CONTROL, PARENT = f"f50-plateau-e{E}", f"control-plateau-e{E}", "cifar-baseline"


PICKS = WS / "alloc-picks.json"
KINDS = ("global", "budget", "sensitivity")
SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25)  # budget targets, as multiples of the table's filter-50 prediction
GLOBAL_RATIOS = tuple(k / 40 for k in range(14, 35))  # 0.35 ... 0.85


def options(**kw) -> PruneOptions:
    """Fine-tuned exactly like the budget study's uniform cell (benchmarks/budget.sh)."""
    return PruneOptions(method="filter", epochs=E, lr=LR, patience=0, lr_schedule="plateau", seed=42, **kw)


def kept_widths(run) -> dict[str, int]:
    return {row.layer: row.filters_kept for row in run.info.pruning.filter.layers}


def candidates(lat: LatencyModel, target: float, round_to: int) -> dict[str, list[dict]]:
    """Per allocation, distinct candidate widths with the option that gives them (a global ratio or a --target-ms),
    computed as `prune` computes them."""
    from edgeprune.errors import UserError
    from edgeprune.latency.budget import choose_widths, sensitivity_costs
    from edgeprune.readers import read_sensitivity
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.pruning.filters.plan import FilterPlan, channel_scores, plan_keep
    from edgeprune.workbench.pruning.impl.filter import importance_costs

    model = load_model(resolve_run(PARENT, WS).model)
    scores = channel_scores(model, "l1", 42)
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    seen: dict[str, set] = {k: set() for k in KINDS}

    def add(kind: str, widths: dict, **opt) -> None:
        key = tuple(sorted(widths.items()))
        if key not in seen[kind]:
            seen[kind].add(key)
            out[kind].append({"option": opt, "widths": widths, "predicted_ms": lat.predict(widths)})

    for r in GLOBAL_RATIOS:
        add("global", {n: len(v) for n, v in plan_keep(model, FilterPlan(scope="global", ratio=r, scores=scores)).items()},
            ratio=r)
    costs = {"budget": importance_costs(model, "l1", 42),
             "sensitivity": sensitivity_costs(read_sensitivity(str(SENSITIVITY)), lat.widths)}
    for kind, c in costs.items():
        for m in SCALES:
            try:
                add(kind, choose_widths(lat, c, m * target, round_to).widths, target_ms=m * target)
            except UserError:  # below the smallest model the table allows
                continue
    return out


def shape_file(widths: dict[str, int], name: str) -> Path:
    """The baseline at these widths, weights untrained, as fp32: only its latency is asked of it."""
    from edgeprune.workbench.export.convert import convert
    from edgeprune.workbench.latency_probe import variant_model
    from edgeprune.workbench.modelio import load_model

    path = WS / "alloc-shapes" / f"{name}.fp32.tflite"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(convert(variant_model(load_model(resolve_run(PARENT, WS).model), widths), "fp32", False))
    return path


def pick(lat: LatencyModel, uniform, round_to: int) -> dict:
    """Time every candidate beside filter-50's widths; per allocation, the one measured nearest."""
    target = lat.predict(kept_widths(uniform))
    cands = candidates(lat, target, round_to)
    shutil.rmtree(WS / "alloc-shapes", ignore_errors=True)  # files of an earlier pick may have other widths
    files = [shape_file(kept_widths(uniform), "uniform")]
    for kind, cs in cands.items():
        for i, c in enumerate(cs):
            c["file"] = f"{kind}-{i}"
            files.append(shape_file(c["widths"], c["file"]))
    measured = timed(files)
    ref = measured["uniform"]
    for kind, cs in cands.items():
        failed = [c["file"] for c in cs if c["file"] not in measured]
        if failed:
            print(f"{kind}: the bench failed on {', '.join(failed)}; left out")
        cands[kind] = cs = [c for c in cs if c["file"] in measured]
        if not cs:
            sys.exit(f"{kind}: no candidate was timed; bench the files in {WS / 'alloc-shapes'} to see why")
        for c in cs:
            c["p50"] = measured[c["file"]].p50
            c["over_uniform"] = ratio_ci(ref, measured[c["file"]])[0]
    picks = {"target_ms": target, "uniform_shape_p50": ref.p50, "candidates": cands,
             "picked": {k: min(cs, key=lambda c: abs(c["over_uniform"] - 1)) for k, cs in cands.items()}}
    write_json(PICKS, picks)
    return picks


def get_run(name: str, o: PruneOptions):
    if (WS / name / "run.json").is_file():
        return resolve_run(name, WS)
    o.out, o.force = name, True
    return prune(resolve_run(PARENT, WS), WS, o)


def get_file(run) -> Path:
    from edgeprune.workbench.export.bundle import ExportOptions, export

    out = WS / "exports" / run.name
    if not (out / "export.json").is_file():
        export(run, WS, ExportOptions(formats=["fp32"], out=str(out), force=True))
    return out / "fp32.tflite"


def pruned(picks: dict) -> dict:
    """The three allocations at their picked widths, pruned and fine-tuned; each checked to have those widths."""
    budget = dict(latency_table=str(TABLE), latency_threads=THREADS)
    opts = {"global": lambda p: options(ratio=p["ratio"], scope="global"),
            "budget": lambda p: options(target_ms=p["target_ms"], scope="global", **budget),  # the greedy widths
            "sensitivity": lambda p: options(target_ms=p["target_ms"], sensitivity=str(SENSITIVITY), **budget)}
    runs = {}
    for kind in KINDS:
        c = picks["picked"][kind]
        runs[kind] = run = get_run(f"alloc-{kind}-e{E}", opts[kind](c["option"]))
        if kept_widths(run) != c["widths"]:
            sys.exit(f"{run.name} has widths {kept_widths(run)}, not the picked {c['widths']}")
    return runs


def main() -> None:
    for need in (UNIFORM, CONTROL):
        if not (WS / need / "run.json").is_file():
            sys.exit(f"no {need} in {WS}: run bash benchmarks/allocation.sh (it makes it)")
    table = read_latency_table(TABLE)
    lat = LatencyModel(table, "fp32")
    uniform, control, parent = (resolve_run(n, WS) for n in (UNIFORM, CONTROL, PARENT))
    if not PICKS.is_file() and "prepare" in sys.argv[1:]:
        sys.exit("no candidates picked yet: run bash benchmarks/allocation.sh pick on a quiet machine first (it times)")
    picks = json.loads(PICKS.read_text()) if PICKS.is_file() else pick(lat, uniform, table.probe.round_to)
    if "pick" in sys.argv[1:]:
        print(json.dumps({k: {kk: v[kk] for kk in ("option", "predicted_ms", "p50", "over_uniform")}
                          for k, v in picks["picked"].items()}, indent=1))
        return
    runs = {"uniform": uniform, **pruned(picks)}
    files = {k: get_file(r) for k, r in runs.items()}
    files["dense"] = get_file(parent)
    if "prepare" in sys.argv[1:]:
        print("prepared:", ", ".join(str(f) for f in files.values()))
        return
    measured = timed(list(files.values()))
    by_kind = {k: measured[f.parent.name] for k, f in files.items()}
    rows = {}
    for kind, run in runs.items():
        m = by_kind[kind]
        over_uniform, over_uniform_ci = ratio_ci(by_kind["uniform"], m)
        speedup, speedup_ci = ratio_ci(m, by_kind["dense"])
        vs_u = compare(run.info.test_correct, uniform.info.test_correct)
        vs_c = compare(run.info.test_correct, control.info.test_correct)
        rows[kind] = {"run": summarize(WS / run.name / "run.json"), "predicted_ms": lat.predict(kept_widths(run)),
                      "option": None if kind == "uniform" else picks["picked"][kind]["option"],
                      "shape_over_uniform": None if kind == "uniform" else picks["picked"][kind]["over_uniform"],
                      "p50": m.p50, "p50_ci": m.p50_ci, "over_uniform": over_uniform,
                      "over_uniform_ci": over_uniform_ci, "speedup": speedup, "speedup_ci": speedup_ci,
                      "vs_uniform": vs_u.to_dict() if vs_u and kind != "uniform" else None,
                      "vs_control": vs_c.to_dict() if vs_c else None}
    any_row = next(iter(measured.values()))
    summary = {"epochs": E, "lr": LR, "threads": THREADS, "table": describe(table), "target_ms": picks["target_ms"],
               "candidates": {k: [{kk: c[kk] for kk in ("option", "predicted_ms", "p50", "over_uniform")} for c in cs]
                              for k, cs in picks["candidates"].items()},
               "control": summarize(WS / CONTROL / "run.json"),
               "dense": {"p50": by_kind["dense"].p50, "p50_ci": by_kind["dense"].p50_ci,
                         "predicted_ms": lat.predict(lat.widths)},
               "rows": rows, "bench": {"rounds": any_row.rounds, "device": any_row.device, "runtime": any_row.runtime}}
    write_json(OUT, summary)
    shutil.copyfile(TABLE, OUT.parent / "table.json")  # the table the targets and predictions came from, kept beside
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "run"} for k, v in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
