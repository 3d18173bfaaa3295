"""Issue 13 on real photos, with this machine as the device: the latency table's prediction error, targets met,
and accuracy at equal latency against uniform filter pruning. Writes benchmarks/results/latency/summary.json.

Run benchmarks/latency_budget.sh (it probes and measures first), on an otherwise idle machine. With the argument
`prepare`, it only prunes and exports (what needs no quiet machine).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.device.bench import BenchOptions, bench  # noqa: E402
from edgeprune.latency_model import LatencyModel, describe, median_abs_error  # noqa: E402
from edgeprune.paired_accuracy import compare  # noqa: E402
from edgeprune.readers import read_latency_table  # noqa: E402
from edgeprune.workbench.export.bundle import ExportOptions, export  # noqa: E402
from edgeprune.workbench.pruning.filters.plan import layer_floor, round_width  # noqa: E402
from edgeprune.workbench.pruning.prune import PruneOptions, prune  # noqa: E402
from edgeprune.workspace import resolve_run  # noqa: E402

WORK = ROOT / "benchmarks/work/latency"
WS = WORK / "runs"
BASELINE = "cifar64-baseline"
OUT = ROOT / "benchmarks/results/latency"
TABLE = WORK / "table.json"
FRACTIONS = (0.5, 0.3)
EPOCHS, LR, THREADS, ROUNDS = 2, 3e-4, 2, 7


def uniform_widths(lat: LatencyModel, ratio: float, round_to: int) -> dict[str, int]:
    return {n: round_width(w * (1 - ratio), w, round_to, layer_floor(w, round_to)) for n, w in lat.widths.items()}


def matching_ratio(lat: LatencyModel, target: float, round_to: int) -> float:
    """The uniform filter ratio whose predicted latency is closest to ``target``."""
    ratios = [i / 200 for i in range(0, 190)]
    return min(ratios, key=lambda r: abs(lat.predict(uniform_widths(lat, r, round_to)) - target))


def get_run(name: str, o: PruneOptions):
    path = WS / name
    if (path / "run.json").is_file():
        return resolve_run(str(path), WS)
    parent = resolve_run(BASELINE, WS)
    o.out, o.force = name, True
    return prune(parent, WS, o)


def get_bundle(run) -> Path:
    out = WORK / "exports" / run.name
    if not (out / "export.json").is_file():
        export(run, WS, ExportOptions(formats=["fp32"], out=str(out), force=True))
    return out / "fp32.tflite"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    table = read_latency_table(TABLE)
    base = resolve_run(BASELINE, WS).info
    summary: dict = {"table": describe(table), "threads": table.threads, "epochs": EPOCHS, "lr": LR, "check": {},
                     "run": BASELINE, "run_params": base.params, "run_test": base.test_accuracy}
    for fmt in table.probe.formats:
        lat = LatencyModel(table, fmt)
        rows = lat.check()
        summary["check"][fmt] = {"a": lat.a, "b": lat.b, "median_abs_error": median_abs_error(rows),
                                 "rows": [{"file": r.file, "predicted": r.predicted, "measured": r.measured} for r in rows]}
    lat = LatencyModel(table, "fp32")
    dense_pred = lat.predict(lat.widths)
    round_to = table.probe.round_to
    runs, plan = {}, []
    for frac in FRACTIONS:
        target = frac * dense_pred
        budget = get_run(f"lat-{frac:g}x", PruneOptions(method="filter", target_ms=target, latency_table=str(TABLE),
                                                         latency_threads=THREADS, epochs=EPOCHS, lr=LR))
        ratio = matching_ratio(lat, budget.info.pruning["filter"]["latency_budget"]["predicted_ms"], round_to)
        uniform = get_run(f"uni-{ratio:g}", PruneOptions(method="filter", ratio=ratio, round_to=round_to, epochs=EPOCHS,
                                                          lr=LR))
        runs[f"lat-{frac:g}x"], runs[f"uni-{ratio:g}"] = budget, uniform
        plan.append((frac, target, budget, uniform, ratio))
    dense = resolve_run(BASELINE, WS)
    files = [get_bundle(dense)] + [get_bundle(r) for r in runs.values()]
    if "prepare" in sys.argv[1:]:  # prune and export only (compute; the timing wants an idle machine)
        print("prepared:", ", ".join(str(f) for f in files))
        return
    res = bench(files, BenchOptions(threads=[THREADS], runs=300, rounds=ROUNDS))
    p50 = {Path(r.model).parent.name: r for r in res.rows if r.error is None}
    summary["dense"] = {"predicted_ms": dense_pred, "measured_p50": p50[dense.name].p50,
                        "ci": p50[dense.name].p50_ci}
    summary["targets"] = []
    for frac, target, budget, uniform, ratio in plan:
        b, u = budget.info, uniform.info
        mb, mu = p50[budget.name], p50[uniform.name]
        paired = compare(b.test_correct, u.test_correct)
        summary["targets"].append({
            "fraction": frac, "target_ms": target, "predicted_ms": b.pruning["filter"]["latency_budget"]["predicted_ms"],
            "widths": b.pruning["filter"]["latency_budget"]["widths"], "budget_p50": mb.p50, "budget_ci": mb.p50_ci,
            "measured_over_target": mb.p50 / target, "uniform_ratio": ratio, "uniform_p50": mu.p50, "uniform_ci": mu.p50_ci,
            "uniform_over_budget": mu.p50 / mb.p50, "budget_params": b.params, "uniform_params": u.params,
            "budget_test": b.test_accuracy, "uniform_test": u.test_accuracy,
            "budget_minus_uniform": paired.to_dict() if paired else None})
    summary["bench"] = {"rounds": ROUNDS, "runs": 300, "device": res.rows[0].device if res.rows else None,
                        "runtime": res.rows[0].runtime if res.rows else None}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "check"}, indent=1)[:3000])
    for fmt, c in summary["check"].items():
        print(fmt, "median abs error", c["median_abs_error"])


if __name__ == "__main__":
    main()
