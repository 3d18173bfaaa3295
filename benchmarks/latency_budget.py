"""Issue 13 on real photos, with this machine as the device: the latency table's prediction error, targets met,
and accuracy at equal latency against uniform filter pruning. Writes benchmarks/results/latency/summary.json.

Run benchmarks/latency_budget.sh (it probes and measures first), on an otherwise idle machine. Round 1 prunes to
each target from the table alone and benches the result here (this machine is the device); round 2 prunes to the
same targets with that bench as `--latency-feedback`. The uniform model beside each round-2 model is the uniform
ratio whose file measured closest to it, fine-tuned the same way. With the argument `prepare`, it only runs round 1's
prunes and exports (what needs no quiet machine).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.device.bench import BenchOptions, bench  # noqa: E402
from edgeprune.device.defaults import DEFAULT_MIN_TIME_S, DEFAULT_ROUNDS  # noqa: E402
from edgeprune.latency.model import LatencyModel, describe, median_abs_error  # noqa: E402
from edgeprune.paired_accuracy import compare  # noqa: E402
from edgeprune.readers import read_latency_table  # noqa: E402
from edgeprune.workbench.export.bundle import ExportOptions, export  # noqa: E402
from edgeprune.options.prune import PruneOptions, uniform_widths  # noqa: E402
from edgeprune.pruner import prune  # noqa: E402
from edgeprune.workspace import resolve_run  # noqa: E402

WORK = ROOT / "benchmarks/work/latency"
WS = WORK / "runs"
BASELINE = "cifar64-baseline"
OUT = ROOT / "benchmarks/results/latency"
TABLE = WORK / "table.json"
FRACTIONS = (0.5, 0.3)
EPOCHS, LR, THREADS = 2, 3e-4, 2


def matching_ratio(lat: LatencyModel, target: float, round_to: int) -> float:
    """The uniform filter ratio whose predicted latency is closest to ``target``."""
    ratios = [i / 200 for i in range(0, 190)]
    return min(ratios, key=lambda r: abs(lat.predict(uniform_widths(lat.widths, r, round_to)) - target))


def get_run(name: str, o: PruneOptions):
    path = WS / name
    if (path / "run.json").is_file():
        return resolve_run(str(path), WS)
    parent = resolve_run(BASELINE, WS)
    o.out, o.force = name, True
    return prune(parent, WS, o)


def get_bundle(run) -> Path:
    out = WS / "exports" / run.name  # the workspace's exports/, where `prune --latency-feedback` finds bundles
    if not (out / "export.json").is_file():
        export(run, WS, ExportOptions(formats=["fp32"], out=str(out), force=True))
    return out / "fp32.tflite"


def shape_file(widths: dict[str, int], name: str) -> Path:
    """A TFLite file of the baseline at these widths, weights untrained: its latency is all that is asked of it
    (the candidates for the uniform model at equal measured latency)."""
    from edgeprune.workbench.export.convert import convert
    from edgeprune.workbench.latency_probe import variant_model
    from edgeprune.workbench.modelio import load_model

    path = WORK / "shapes" / f"{name}.fp32.tflite"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(convert(variant_model(load_model(resolve_run(BASELINE, WS).model), widths), "fp32", False))
    return path


def candidates(lat: LatencyModel, around: float, round_to: int) -> dict[float, Path]:
    """Uniform ratios near ``around`` whose widths differ, each as a shape file."""
    out, seen = {}, set()
    for k in range(-4, 5):
        r = round(min(0.95, max(0.0, around + 0.025 * k)), 3)
        w = uniform_widths(lat.widths, r, round_to)
        key = tuple(sorted(w.items()))
        if key not in seen:
            seen.add(key)
            out[r] = shape_file(w, f"shape-uni-{r:g}")
    return out


def timed(files: list[Path], save: Path | None = None) -> dict[str, object]:
    """Every file side by side at the bench's defaults (interleaved rounds, minimum time), by file stem/bundle;
    ``save`` keeps the bench JSON (the device's feedback for the next prune)."""
    from edgeprune.device.bench import save_json

    res = bench(files, BenchOptions(threads=[THREADS], rounds=DEFAULT_ROUNDS, min_time_s=DEFAULT_MIN_TIME_S, max_images=1))
    if save is not None:
        save.unlink(missing_ok=True)
        save_json(res, save, append=False)
    return {Path(r.model).parent.name if Path(r.model).name == "fp32.tflite" else Path(r.model).name.removesuffix(".fp32.tflite"): r
            for r in res.rows if r.error is None}


def ratio_ci(a, b) -> tuple[float, list[float]]:
    """b's p50 over a's, per round (both timed in the same rounds), median and 95 % interval."""
    import statistics

    from edgeprune.device.intervals import bootstrap_ci, paired_ratios

    ratios = paired_ratios(b.p50_rounds, a.p50_rounds)  # b / a
    return statistics.median(ratios), list(bootstrap_ci(ratios))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    table = read_latency_table(TABLE)
    base = resolve_run(BASELINE, WS).info
    summary: dict = {"table": describe(table), "threads": table.threads, "epochs": EPOCHS, "lr": LR, "check": {},
                     "run": BASELINE, "run_params": base.params, "run_test": base.test_accuracy,
                     "passes": max(len(r.p50_passes or [1]) for r in table.rows if r.error is None),
                     "estimator": "fastest pass"}  # how a file's time is read from its passes (LatencyRow.time_ms)
    fits = [f for f in table.probe.files if f.kind == "variant" and f.format == "fp32"]
    summary["probe"] = {"formats": table.probe.formats, "round_to": table.probe.round_to,
                        "fit": sum(f.role == "fit" for f in fits), "validate": sum(f.role == "validate" for f in fits)}
    for fmt in table.probe.formats:
        lat = LatencyModel(table, fmt)
        rows = lat.check()
        summary["check"][fmt] = {"a": lat.a, "b": lat.b, "median_abs_error": median_abs_error(rows),
                                 "rows": [{"file": r.file, "predicted": r.predicted, "measured": r.measured} for r in rows]}
    lat = LatencyModel(table, "fp32")
    dense_pred = lat.predict(lat.widths)
    round_to = table.probe.round_to
    dense = resolve_run(BASELINE, WS)

    def budget_run(name: str, frac: float, feedback: list[str]):
        # --scope global: the per-layer (greedy) widths these rows were made with, before uniform became the default
        return get_run(name, PruneOptions(method="filter", target_ms=frac * dense_pred, latency_table=str(TABLE),
                                          scope="global", latency_threads=THREADS, epochs=EPOCHS, lr=LR,
                                          latency_feedback=feedback))

    # round 1: widths from the table alone; then the device (this machine) measures them
    first = {frac: budget_run(f"lat-{frac:g}x", frac, []) for frac in FRACTIONS}
    dense_file = get_bundle(dense)
    if "prepare" in sys.argv[1:]:  # prune and export only (compute; the timing wants an idle machine)
        print("prepared:", dense_file, ", ".join(str(get_bundle(r)) for r in first.values()))
        return
    feedback = WORK / "bench_round1.json"
    round1 = timed([dense_file] + [get_bundle(r) for r in first.values()], save=feedback)
    # round 2: the same targets, the table corrected by what round 1 measured (`prune --latency-feedback`)
    second = {frac: budget_run(f"lat-{frac:g}x-fb", frac, [str(feedback)]) for frac in FRACTIONS}
    shapes = {frac: candidates(lat, matching_ratio(lat, second[frac].info.pruning.filter.latency_budget
                                                   ["table_predicted_ms"], round_to), round_to) for frac in FRACTIONS}
    # the uniform model at equal *measured* latency: time the candidate shapes beside the round-2 models
    files = [dense_file] + [get_bundle(r) for r in second.values()]
    probe_b = timed(files + [f for v in shapes.values() for f in v.values()])
    chosen = {frac: min(shapes[frac], key=lambda r: abs(probe_b[f"shape-uni-{r:g}"].p50 / probe_b[second[frac].name].p50 - 1))
              for frac in FRACTIONS}
    summary["candidates"] = {f"{frac:g}x": [{"ratio": r, "p50": probe_b[f"shape-uni-{r:g}"].p50} for r in shapes[frac]]
                             for frac in FRACTIONS}
    uniforms = {frac: get_run(f"uni-{r:g}", PruneOptions(method="filter", ratio=r, round_to=round_to, epochs=EPOCHS,
                                                          lr=LR)) for frac, r in chosen.items()}
    final = timed(files + [get_bundle(r) for r in first.values()] + [get_bundle(u) for u in uniforms.values()])
    summary["dense"] = {"predicted_ms": dense_pred, "measured_p50": final[dense.name].p50, "ci": final[dense.name].p50_ci}
    summary["round1"] = []
    for frac in FRACTIONS:
        b = first[frac].info.pruning.filter.latency_budget
        m = final[first[frac].name]
        summary["round1"].append({"fraction": frac, "target_ms": frac * dense_pred, "predicted_ms": b["predicted_ms"],
                                  "widths": b["widths"], "p50": m.p50, "ci": m.p50_ci,
                                  "feedback_p50": round1[first[frac].name].p50,
                                  "measured_over_target": m.p50 / (frac * dense_pred)})
    summary["targets"] = []
    for frac in FRACTIONS:
        budget, uniform = second[frac], uniforms[frac]
        target = frac * dense_pred
        b, u = budget.info, uniform.info
        lb = b.pruning.filter.latency_budget
        mb, mu = final[budget.name], final[uniform.name]
        paired = compare(b.test_correct, u.test_correct)
        u_over_b, u_over_b_ci = ratio_ci(mb, mu)
        summary["targets"].append({
            "fraction": frac, "target_ms": target, "predicted_ms": lb["predicted_ms"],
            "table_predicted_ms": lb["table_predicted_ms"], "feedback_factor": lb["feedback"]["factor"],
            "widths": lb["widths"], "budget_p50": mb.p50, "budget_ci": mb.p50_ci,
            "measured_over_target": mb.p50 / target, "measured_over_target_ci": [c / target for c in mb.p50_ci],
            "uniform_ratio": chosen[frac], "uniform_p50": mu.p50, "uniform_ci": mu.p50_ci,
            "uniform_over_budget": u_over_b, "uniform_over_budget_ci": u_over_b_ci,
            "budget_params": b.params, "uniform_params": u.params,
            "budget_test": b.test_accuracy, "uniform_test": u.test_accuracy,
            "budget_minus_uniform": paired.to_dict() if paired else None})
    any_row = next(iter(final.values()))
    summary["bench"] = {"rounds": any_row.rounds, "device": any_row.device, "runtime": any_row.runtime}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "check"}, indent=1)[:3000])
    for fmt, c in summary["check"].items():
        print(fmt, "median abs error", c["median_abs_error"])


if __name__ == "__main__":
    main()
