"""An imported model on real photos: MobileNetV2 (no pretrained weights) trained briefly with plain Keras 3 on
../shared/data/cifar10-animals at 32 px, then `edgeprune import` -> `prune --method weight` and `prune --method
filter` (its residual, depthwise graph, issue 23), each with a control -> `export` -> `bench` of the six files side by
side.

    .venv/bin/python benchmarks/imported_mobilenetv2.py [--epochs 10] [--alpha 0.5] [--prepare | --bench-only]

Writes benchmarks/results/imported_mobilenetv2.json (the figures BENCHMARKS.md shows) and keeps its work in
benchmarks/work/imported/. About 15 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EP = [sys.executable, "-m", "edgeprune"]
sys.path.insert(0, str(ROOT))
from edgeprune.device.intervals import bootstrap_ci, paired_ratios  # noqa: E402  (numpy only)

TRAIN = textwrap.dedent(r"""
    import sys, time
    from pathlib import Path
    import numpy as np
    from PIL import Image
    import keras

    data, out, epochs, alpha, per_class = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    classes = sorted(p.name for p in (data / "train").iterdir() if p.is_dir())
    xs, ys = [], []
    for k, c in enumerate(classes):
        files = sorted((data / "train" / c).glob("*.jpg"))[:per_class]
        xs += [np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8) for f in files]
        ys += [k] * len(files)
    x = np.stack(xs).astype("float32") / 127.5 - 1.0  # MobileNet's [-1, 1]
    y = np.array(ys)
    keras.utils.set_random_seed(0)
    m = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=alpha, weights=None, classes=len(classes))
    for layer in m.layers:  # Keras' default 0.999 leaves the moving statistics far behind in a short run
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.time()
    aug = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomTranslation(0.1, 0.1)])
    ds = __import__("tensorflow").data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64)
    ds = ds.map(lambda a, b: (aug(a, training=True), b))
    m.fit(ds, epochs=epochs, verbose=2)
    m.save(out)
    print(f"keras {keras.__version__} trained {epochs} epochs in {time.time() - t0:.0f} s")
""")


def run(cmd, env=None):
    print("$", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-animals"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--per-class", type=int, default=3000)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--finetune", type=int, default=2)
    ap.add_argument("--filter-ratio", type=float, default=0.5)
    ap.add_argument("--filter-finetune", type=int, default=4)
    ap.add_argument("--prepare", action="store_true", help="train, import, prune and export, but time nothing (the "
                    "machine may be busy); a later --bench-only call benches")
    ap.add_argument("--bench-only", action="store_true", help="keep the imported and pruned runs and their bundles; "
                    "bench again (a bench disturbed by other work on the machine)")
    a = ap.parse_args()
    work = ROOT / "benchmarks" / "work" / "imported"
    ws = work / "runs"
    work.mkdir(parents=True, exist_ok=True)
    model = work / "mobilenetv2.keras"
    t0 = time.time()
    out = ROOT / "benchmarks" / "results" / "imported_mobilenetv2.json"
    trained = work / "train.json"  # the Keras 3 model is kept, and with it the training time measured when it trained
    if not model.is_file():
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}  # plain Keras 3
        run([sys.executable, "-c", TRAIN, a.data, model, a.epochs, a.alpha, a.per_class], env=env)
        trained.write_text(json.dumps({"train_seconds": round(time.time() - t0), "epochs": a.epochs}) + "\n")
    if not trained.is_file():
        raise SystemExit(f"{model} was kept without {trained.name} (its training time and epochs): delete it to train again")
    t_train = json.loads(trained.read_text())
    if t_train.get("epochs") != a.epochs:
        raise SystemExit(f"{model} was trained {t_train.get('epochs')} epochs, not --epochs {a.epochs}: delete it to train again")
    t_train = t_train["train_seconds"]
    runs_made = ("mnv2", "mnv2-w", "mnv2-f")
    if not a.bench_only:
        run([*EP, "import", model, "--data", a.data, "--preprocess", "mobilenet", "--limit-per-class", a.per_class,
             "-w", ws, "--out", "mnv2", "--force", "-q"])
        run([*EP, "prune", "mnv2", "--method", "weight", "--sparsity", a.sparsity, "--epochs", a.finetune, "--lr",
             "3e-4", "--control", "-w", ws, "--out", "mnv2-w", "--force", "-q"])
        run([*EP, "prune", "mnv2", "--method", "filter", "--ratio", a.filter_ratio, "--epochs", a.filter_finetune,
             "--lr", "3e-4", "--control", "-w", ws, "--out", "mnv2-f", "--force", "-q"])
        for r in runs_made:
            run([*EP, "export", r, "--formats", "fp32,int8", "--sparse", "off", "-w", ws, "--force", "-q"])
    if a.prepare:
        return
    files = [ws / "exports" / r / f for r in runs_made for f in ("fp32.tflite", "int8.tflite")]
    bench_json = work / "bench.json"  # side by side in one call at the bench's defaults (interleaved rounds)
    run([*EP, "bench", *files, "--threads", "2", "--json", bench_json, "--force", "-q"])
    bench = json.loads(bench_json.read_text())["results"]
    runs = {r: json.loads((ws / r / "run.json").read_text()) for r in runs_made}
    exports = {r: json.loads((ws / "exports" / r / "export.json").read_text()) for r in runs_made}
    rows = []
    by_file = {}
    for f, r in zip(files, bench):
        by_file[f"{f.parent.name}/{f.name}"] = r
        rows.append({"file": f"{f.parent.name}/{f.name}", "bytes": r["bytes"], "gzip_bytes": r["gzip_bytes"],
                     "accuracy": r["accuracy"], "p50_ms": r["latency_ms"]["p50"], "p50_ci": r["p50_ci"]})
    for row in rows:  # each file against the dense file of its own format, measured in the same rounds
        ref, mine = by_file["mnv2/" + row["file"].split("/")[1]], by_file[row["file"]]
        ratios = paired_ratios(ref["p50_rounds"], mine["p50_rounds"])
        row["speedup_vs_dense_same_format"] = float(np.median(ratios))
        row["speedup_ci"] = list(bootstrap_ci(ratios)) if not row["file"].startswith("mnv2/") else None
    filt = runs["mnv2-f"]["pruning"]["filter"]
    groups = filt.get("groups") or []
    doc = {
        "what": "MobileNetV2 (alpha %.2f, no pretrained weights, BatchNorm momentum 0.9) trained %d epochs with Keras %s on cifar10-animals at 32 px, "
                "imported, weight-pruned to %.0f%% with %d fine-tuning epochs, and filter-pruned at ratio %.2f with %d fine-tuning epochs" % (
                    a.alpha, a.epochs, "3", 100 * a.sparsity, a.finetune, a.filter_ratio, a.filter_finetune),
        "command": "python benchmarks/imported_mobilenetv2.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items() if k not in ("data", "bench_only", "prepare")),
        "train_seconds": t_train,
        "import": {k: runs["mnv2"][k] for k in ("params", "macs", "val_accuracy", "test_accuracy")}
                  | {"source": {**runs["mnv2"]["source"], "file": str(model.relative_to(ROOT))}},
        "pruned": {k: runs["mnv2-w"][k] for k in ("params", "nonzero_params", "sparsity", "val_accuracy", "test_accuracy")}
                  | {"control_test_accuracy": runs["mnv2-w"]["control"]["test_accuracy"],
                     "vs_control": runs["mnv2-w"]["vs_control"]["test_paired"]},
        "filtered": {k: runs["mnv2-f"][k] for k in ("params", "macs", "val_accuracy", "test_accuracy")}
                    | {"ratio": a.filter_ratio, "finetune_epochs": a.filter_finetune,
                       "macs_ratio": filt["macs_ratio"], "params_ratio": filt["params_ratio"],
                       "groups": len(groups), "groups_pruned": sum(g["channels_kept"] < g["channels_total"] for g in groups),
                       "groups_multi_layer": sum(len(g["members"]) > 1 for g in groups),
                       "control_test_accuracy": runs["mnv2-f"]["control"]["test_accuracy"],
                       "vs_control": runs["mnv2-f"]["vs_control"]["test_paired"]},
        "agreement_fp32": {r: next(x["agreement"] for x in exports[r]["files"] if x["format"] == "fp32") for r in exports},
        "files": rows,
        "device": bench[0]["device"]["cpu"], "threads": 2, "runtime": bench[0]["runtime"], "rounds": bench[0]["rounds"],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
