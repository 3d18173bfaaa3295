"""Issue 23: speed and accuracy of filter pruning on graphs (ResNet-20 at 32 px, MobileNetV2 at 64 px). Reads the
runs and benches benchmarks/graph_prune.sh made; writes benchmarks/results/graph_prune/summary.json: per model, the
dense run, and per pruned run (uniform ratio 0.5, --target-ms 0.5x) its MACs and parameter ratios, its groups, test
accuracy against the shared control (paired on the same test images), and per format its p50 and its speed-up over
the dense file of that format measured in the same rounds (median of per-round ratios, bootstrap interval)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.device.intervals import bootstrap_ci, paired_ratios  # noqa: E402
from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.paired_accuracy import compare  # noqa: E402
from edgeprune.readers import read_bench_file, read_run  # noqa: E402

OUT = ROOT / "benchmarks/results/graph_prune"
MODELS = {"r20": "ResNet-20 at 32 px", "mnv2": "MobileNetV2 (alpha 1.0, no pretrained weights) at 64 px"}
PRUNED = {"f50": "uniform ratio 0.5", "t05": "--target-ms 0.5x (fp32), one ratio",
          "t05g": "--target-ms 0.5x (fp32), --scope global"}  # and fRR-eN: ratio 0.RR fine-tuned N epochs
FORMATS = ("fp32", "int8")


def summary(work: Path, name: str) -> dict:
    ws = work / "runs"
    dense = read_run(ws / name / "run.json")
    ctl_run = read_run(ws / f"{name}-f50" / "run.json")
    control = ctl_run.control
    bench = read_bench_file(work / f"{name}-bench.json")
    failed = [f"{r.model}: {r.error}" for r in bench.results if r.error]
    if failed:
        raise SystemExit(f"{name}'s bench has failed files; bench again: " + "; ".join(failed))
    rows = {Path(r.model).parent.name + "/" + Path(r.model).name: r for r in bench.results if not r.self_check}
    out = {"name": name, "title": MODELS[name], "arch": dense.arch, "image_size": dense.image_size,
           "params": dense.params, "macs": dense.macs, "epochs": dense.epochs_run, "train_seconds": dense.seconds,
           "test_accuracy": dense.test_accuracy, "options": dense.options,
           "control": {"test_accuracy": control.test_accuracy, "epochs_run": control.epochs_run},
           "device": bench.device, "rounds": next(iter(rows.values())).rounds, "threads": next(iter(rows.values())).threads,
           "runtime": next(iter(rows.values())).runtime, "dense_files": {}, "pruned": []}
    for fmt in FORMATS:
        r = rows[f"{name}/{fmt}.tflite"]
        out["dense_files"][fmt] = {"p50_ms": r.latency_ms.p50, "p50_ci": r.p50_ci, "accuracy": r.accuracy, "bytes": r.bytes}
    longer = []
    for p in sorted(ws.glob(f"{name}-f[0-9][0-9]-e*")):
        if f"{p.name}/fp32.tflite" in rows:
            longer.append(p.name.removeprefix(f"{name}-"))
        else:
            print(f"{p.name} is not in {name}-bench.json (benched before it was made): left out; delete the bench "
                  "file and bench again to show it")
    for key in [*PRUNED, *longer]:
        if not (ws / f"{name}-{key}" / "run.json").is_file() and key == "t05g":
            continue  # not made for this model
        run = read_run(ws / f"{name}-{key}" / "run.json")
        what = PRUNED.get(key)
        filt = run.pruning.filter
        if what is None:  # a longer fine-tuning, at ratio 0.5 or another (the anchor's MACs), with its own control
            e, patience = run.options["epochs"], run.options.get("patience")
            what = (f"uniform ratio {filt.ratio:g}, up to {e} epochs (stopped at {run.epochs_run})" if run.epochs_run < e
                    else f"uniform ratio {filt.ratio:g}, {e} epochs" + (", early stopping off" if patience == 0 else ""))
        groups = filt.groups or []
        files = {}
        for fmt in FORMATS:
            ref, mine = rows[f"{name}/{fmt}.tflite"], rows[f"{name}-{key}/{fmt}.tflite"]
            ratios = paired_ratios(ref.p50_rounds or [ref.latency_ms.p50], mine.p50_rounds or [mine.latency_ms.p50])
            files[fmt] = {"p50_ms": mine.latency_ms.p50, "p50_ci": mine.p50_ci, "accuracy": mine.accuracy, "bytes": mine.bytes,
                          "speedup": float(np.median(ratios)),
                          "speedup_ci": list(bootstrap_ci(ratios)) if len(ratios) > 1 else None}
        budget = filt.latency_budget or {}
        own = run.control or control  # a longer fine-tuning has its own control of as many epochs
        paired = compare(run.test_correct, own.test_correct)
        out["pruned"].append({
            "run": f"{name}-{key}", "what": what, "ratio": filt.ratio, "epochs_run": run.epochs_run,
            "seconds": run.seconds,
            "params": run.params, "macs": run.macs, "macs_ratio": filt.macs_ratio, "params_ratio": filt.params_ratio,
            "groups": len(groups), "groups_cut": sum(g.channels_kept < g.channels_total for g in groups),
            "groups_multi_layer": sum(len(g.members) > 1 for g in groups),
            "target_ms": budget.get("target_ms"), "predicted_ms": budget.get("predicted_ms"),
            "dense_predicted_ms": budget.get("dense_predicted_ms"),
            "test_accuracy": run.test_accuracy, "control_test_accuracy": own.test_accuracy,
            "own_control": run.control is not None and key != "f50",
            "vs_control": paired.to_dict() if paired else None, "files": files})
    if (ws / f"{name}-t05g" / "run.json").is_file():  # the two allocations of one budget, paired with each other
        uni, greedy = (read_run(ws / f"{name}-{k}" / "run.json") for k in ("t05", "t05g"))
        both = compare(uni.test_correct, greedy.test_correct)
        out["uniform_vs_greedy"] = both.to_dict() if both else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks/work/graph-prune")
    ap.add_argument("--out", type=Path, default=OUT / "summary.json")
    a = ap.parse_args()
    fresh = {m: summary(a.work, m) for m in MODELS if (a.work / f"{m}-bench.json").is_file()}
    if not fresh:
        raise SystemExit(f"nothing benched in {a.work}; run benchmarks/graph_prune.sh first")
    # A model benched in an earlier session (its work folder gone) keeps its row from the committed summary.
    kept = {m["name"]: m for m in (json.loads(a.out.read_text())["models"] if a.out.is_file() else [])}
    models = [fresh.get(m) or kept[m] for m in MODELS if m in fresh or m in kept]
    write_json(a.out, {"issue": 23, "command": "bash benchmarks/graph_prune.sh", "models": models}, force=True)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
