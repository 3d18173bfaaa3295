"""Compose BENCHMARKS.md from the files benchmarks/study.sh wrote. Every figure here is read from a result file."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.study.entries import load_inputs  # noqa: E402
from edgeprune.study.report import dense_reference, pick, write_report  # noqa: E402

RES = ROOT / "benchmarks" / "results"
SW = ROOT / "benchmarks" / "work" / "sweep"
WS = ROOT / "benchmarks" / "work" / "runs"


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}"


def load(p):
    return json.loads(Path(p).read_text())


def merged_bench() -> Path:
    """One bench file whose p50/p99 are the medians over the repeated side-by-side bench calls."""
    docs = [load(p) for p in sorted(RES.glob("bench-cpu-*.json")) if "median" not in p.name]
    rows = {}
    for d in docs:
        for r in d["results"]:
            if r.get("latency_ms"):
                rows.setdefault(r["model"], []).append(r)
    base = docs[0]
    out_rows = []
    for model, rs in rows.items():
        r = dict(rs[0])
        r["latency_ms"] = {k: statistics.median(x["latency_ms"][k] for x in rs) for k in rs[0]["latency_ms"]}
        r["repeats"] = len(rs)
        r["model"] = str(Path(model).resolve()) if not Path(model).is_absolute() else model
        out_rows.append(r)
    path = RES / "bench-cpu-median.json"
    path.write_text(json.dumps({**base, "results": out_rows}, indent=1))
    return path


def md_table(cols, rows):
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"] +
                     ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def main() -> None:
    bench_path = merged_bench()
    sens = RES / "sensitivity.json"
    entries, warnings, _ = load_inputs([SW / "results.jsonl", SW / "exports", bench_path])
    rep = write_report(entries, RES / "report", warnings, load(sens) if sens.is_file() else None, force=True)
    device = load(bench_path)["device"]
    runtime = load(bench_path)["results"][0]["runtime"]
    dev = [d for e in entries for d in e.latency][0]
    ref = dense_reference(entries)
    recs = {}
    for line in (SW / "results.jsonl").read_text().splitlines():
        d = json.loads(line)
        recs[d["cell"]] = d  # the last record of a cell wins (a retried failure)
    base = json.loads((WS / "cifar-baseline" / "run.json").read_text())
    control = recs.get(next((k for k in recs if k.startswith("control")), ""), {})
    by = {(e.bundle, e.format): e for e in entries}

    def p50(bundle, fmt):
        e = by.get((bundle, fmt))
        return (e.latency.get(dev) or {}).get("p50") if e else None

    lines = ["# Benchmarks", "",
             "Every figure below was measured by `bash benchmarks/study.sh` and is read from `benchmarks/results/` by "
             "`benchmarks/write_benchmarks.py`. Latencies are medians of three side-by-side `edgeprune bench` calls "
             "(300 timed runs each at batch 1); compare them as ratios, since this machine is shared and noisy.", "",
             "## Machine", "",
             f"- CPU: {device['cpu']}, {device['cores']} cores, {device['machine']}, {device['os']}, Python {device['python']}",
             f"- TensorFlow {base['versions']['tensorflow']}, tf-keras {base['versions']['tf_keras']}, "
             f"tfmot {base['versions'].get('tensorflow_model_optimization')}, runtime "
             f"{runtime['name']} {runtime['version']}, XNNPACK on, 2 threads",
             f"- Wall time of the whole script: {int(Path(RES / 'wall_seconds.txt').read_text()) / 60:.0f} min"
             if (RES / "wall_seconds.txt").is_file() else "- Wall time: not recorded", ""]
    opts = base["options"]
    counts = base["data"]["counts"]
    lines += ["## The study on real photos", "",
              "Data: `../shared/data/cifar10-animals` (CIFAR-10's six animal classes, 32x32 JPEG; it stands in for "
              "Animals-10, which cannot be downloaded here). "
              f"Train {sum(counts['train']):,} / val {sum(counts['val']):,} / test {sum(counts['test']):,} images "
              f"(the folder's fixed test split, all of it).", "",
              "What was cut to fit about an hour on 2 cores, against the study: 32 px instead of 100 px (the data's size); "
              f"{opts['limit_per_class']} of 5,000 training photos per class; baseline {base['epochs_run']} epochs "
              f"(study: up to 100) at lr {opts['lr']} with light augmentation (flip, 10 % shifts: the study's is too "
              f"heavy at 32 px); fine-tuning {recs.get('weight-50', {}).get('epochs', '?')} epochs per cell at lr 3e-4 "
              "(study: 30 epochs at 1e-4). Hybrid: filter ratio 0.3, then weight pruning.", "",
              "Commands: `bash benchmarks/train_baseline.sh` (`edgeprune train --data ../shared/data/cifar10-animals "
              "--image-size 32 --limit-per-class 3000 --epochs 15 --lr 1e-3 --augment light --patience 5`), then the "
              "`edgeprune sweep`, `prune`, `export`, `sensitivity` and `bench` lines of `benchmarks/study.sh`.", "",
              f"Baseline (dense, unpruned): test accuracy {pct(base['test_accuracy'])} % (Keras), "
              f"{base['params']:,} parameters, {ref['fp32'].macs:,} MACs; BatchNorm re-estimation: val "
              f"{pct(base['bn_recalibration']['val_accuracy_before'])} -> {pct(base['bn_recalibration']['val_accuracy_after'])} %.", ""]

    # Q1: accuracy against the control
    rows = []
    for k, r in recs.items():
        if r.get("method") in ("weight", "filter", "hybrid") and not r.get("error"):
            rows.append([k, r["method"], r["value"], pct(r.get("sparsity")) if r["method"] != "filter" else "-",
                         f"{r['params']:,}", f"{r['nonzero_params']:,}", pct(r["test_accuracy"]),
                         pct(control.get("test_accuracy")),
                         f"{100 * (r['test_accuracy'] - control['test_accuracy']):+.2f}" if control else "-"])
    lines += ["### Does moderate pruning raise accuracy once the control gets the same fine-tuning?", "",
              f"The control is the unpruned baseline fine-tuned for the same epochs, rate and data "
              f"(test {pct(control.get('test_accuracy'))} %; the baseline before it: {pct(base['test_accuracy'])} %).", "",
              md_table(["cell", "method", "target", "measured sparsity %", "params", "nonzero", "test acc %",
                        "control test acc %", "pruned - control (points)"], rows), ""]
    n_test = sum(counts["test"])
    acc = control.get("test_accuracy") or base["test_accuracy"]
    se_diff = 100 * (2 * acc * (1 - acc) / n_test) ** 0.5
    lines += [f"How to read it: one seed each, scored on {n_test:,} test images. The sampling error of a difference "
              f"between two accuracies near {100 * acc:.0f} % is about {se_diff:.2f} points (one standard error), so "
              f"differences within about {2 * se_diff:.1f} points are not evidence either way. The control gained "
              f"{100 * (control.get('test_accuracy', 0) - base['test_accuracy']):+.2f} points over the baseline from the "
              "extra fine-tuning alone: that is the share of any 'pruning gain' the study could not separate.", ""]
    failed = [f"{k}: {r['error']}" for k, r in recs.items() if r.get("error")]
    if failed:
        lines += ["Cells that failed: " + "; ".join(failed), ""]

    # Q2: sizes
    rows = []
    for e in sorted(entries, key=lambda e: (e.format, e.bundle)):
        r = ref.get(e.format)
        rows.append([e.bundle, e.format + (" sparse" if e.sparse else ""), f"{e.bytes:,}", f"{e.gzip_bytes:,}",
                     f"{r.bytes / e.bytes:.2f}x" if r else "-", f"{r.gzip_bytes / e.gzip_bytes:.2f}x" if r else "-",
                     f"{e.naive_bound_bytes:,}", f"{e.gzip_bytes / e.naive_bound_bytes:.2f}x", pct(e.accuracy)])
    lines += ["### How much smaller is each model in the same format, and how far from its information floor?", "",
              "Floor = nonzero weights x bytes per weight (fp32 4, int8 1) + the entropy of the zero/non-zero mask, over "
              "Conv2D/Dense kernels and biases. Ratios are against the dense model in the same format.", "",
              md_table(["model", "format", "bytes", "gzip bytes", "x smaller raw", "x smaller gzip", "floor bytes",
                        "gzip / floor", "file test acc %"], rows), ""]
    w90 = by.get(("weight-90", "int8"))
    c16 = by.get(("weight-90-c16", "int8"))
    dense32 = ref.get("fp32")
    if w90 and c16 and dense32:
        lines += ["Goals for the int8 export of the 90 %-pruned model (issue: export):", "",
                  f"- as converted: gzip / floor = {w90.gzip_bytes / w90.naive_bound_bytes:.2f}x (goal <= 1.30x); "
                  f"{dense32.gzip_bytes / w90.gzip_bytes:.1f}x below the dense fp32 gzip;",
                  f"- with 16-cluster sparsity-preserving clustering: {c16.gzip_bytes / c16.naive_bound_bytes:.2f}x the floor "
                  f"(goal <= 1.10x), {dense32.gzip_bytes / c16.gzip_bytes:.1f}x below the dense fp32 gzip (goal >= 20x); "
                  f"test accuracy {pct(c16.accuracy)} % against {pct(w90.accuracy)} % unclustered.", ""]

    # Q3: latency
    rows = []
    for e in sorted(entries, key=lambda e: (e.format, e.bundle)):
        d = p50("dense", e.format)
        me = (e.latency.get(dev) or {}).get("p50")
        rows.append([e.bundle, e.format + (" sparse" if e.sparse else ""), f"{me:.3f}" if me else "-",
                     f"{d / me:.2f}x" if d and me else "-", f"{me / d:.2f}" if d and me else "-",
                     f"{e.macs / ref['fp32'].macs:.2f}" if e.macs and ref.get("fp32") and ref["fp32"].macs else "-"])
    lines += ["### Which method actually lowers CPU latency, next to its MACs ratio?", "",
              f"p50 per image at batch 1 on {dev}; latency ratio = this file's p50 over the dense model's in the same format.", "",
              md_table(["model", "format", "p50 ms", "speed-up", "latency ratio", "MACs ratio"], rows), ""]
    f50 = p50("filter-50", "fp32")
    d32 = p50("dense", "fp32")
    if f50 and d32:
        macs_ratio = by[("filter-50", "fp32")].macs / ref["fp32"].macs
        lines += [f"Filter pruning at ratio 0.5 (uniform), fp32: p50 {f50:.3f} ms against {d32:.3f} ms dense = "
                  f"{f50 / d32:.2f}x the dense latency (target <= 0.40x), MACs ratio {macs_ratio:.2f}.", ""]
        r8 = p50("filter-50-r8", "fp32")
        if r8:
            lines += [f"With `--round-to 8`: {r8 / d32:.2f}x.", ""]

    # Q4: best under 1 MB
    best = pick(entries, 1.0, None, None)
    lines += ["### What is the best model under 1 MB gzip?", "", f"`edgeprune report --pick --max-gzip-mb 1`: {best.message}.", ""]

    # filter table (issue 4) with accuracy, params, MACs, latency
    rows = []
    for k in ("filter-30", "filter-50", "filter-70", "filter-90"):
        r = recs.get(k)
        if not r or r.get("error"):
            continue
        rows.append([k, pct(r["test_accuracy"]), pct(control.get("test_accuracy")), f"{r['params']:,}",
                     f"{r['macs']:,}", f"{p50(k, 'fp32'):.3f}" if p50(k, "fp32") else "-",
                     f"{p50(k, 'int8'):.3f}" if p50(k, "int8") else "-"])
    lines += ["### Filter pruning at 0.3/0.5/0.7/0.9", "", md_table(["cell", "test acc %", "control %", "params", "MACs",
              "fp32 p50 ms", "int8 p50 ms"], rows), ""]

    # the full table and plots
    lines += ["## Full comparison table", "", "Also in `benchmarks/results/report/report.md`.", "",
              "\n".join(l for l in rep["report"].read_text().splitlines() if l.startswith("|")), "",
              "![accuracy vs gzip](benchmarks/results/report/accuracy_vs_gzip.png)", "",
              "![accuracy vs latency](benchmarks/results/report/accuracy_vs_latency.png)", ""]
    if (RES / "report" / "sensitivity.png").is_file():
        lines += ["![sensitivity](benchmarks/results/report/sensitivity.png)", ""]

    # speed checks
    ps = load(RES / "pipeline_speed.json") if (RES / "pipeline_speed.json").is_file() else None
    bo = load(RES / "bench_overhead.json") if (RES / "bench_overhead.json").is_file() else None
    lines += ["## Speed checks", ""]
    if ps:
        lines += [f"Input pipeline (`.venv/bin/python benchmarks/pipeline_speed.py`): {ps['images']:,} training images "
                  f"at 32 px, one epoch of the study CNN, {len(ps['folder_epoch_s'])} repeats each in ABBA order. From the JPEG folder through the decode "
                  f"cache and tf.data: median {ps['folder_median_s']:.2f} s; from in-memory arrays (`model.fit(x, y)`): "
                  f"{ps['memory_median_s']:.2f} s; ratio **{ps['ratio']:.3f}** (target <= 1.15). The one-off decode of "
                  f"the folder took {ps['first_decode_s']:.1f} s.", ""]
    if bo:
        rows = [[Path(k).parent.name + "/" + Path(k).name, f"{v['harness_median']:.4f}", f"{v['bare_median']:.4f}",
                 f"{v['ratio']:.3f}"] for k, v in bo.items()]
        lines += ["Harness overhead (`.venv/bin/python benchmarks/bench_overhead.py FILES`): `edgeprune bench` p50 "
                  "against a bare `set_tensor`/`invoke` loop in a fresh process, 5 interleaved repeats of 300 runs, "
                  "2 threads (target <= 1.03):", "", md_table(["file", "harness p50 ms", "bare p50 ms", "ratio"], rows), ""]

    latest = ROOT / ".cache" / "pi-check" / "pi-check.json"  # written by `make pi-check`
    if latest.is_file():
        (RES / "pi_check.json").write_text(latest.read_text())
    pc = load(RES / "pi_check.json") if (RES / "pi_check.json").is_file() else None
    if pc:
        lines += ["## The Raspberry Pi path on emulated aarch64 (`make pi-check`)", "",
                  f"{pc['qemu']}; runtime {pc['runtime']['name']} {pc['runtime']['version']} on emulated aarch64 "
                  f"(CPython 3.11, Debian arm64 sysroot, device-side wheels only); x86 reference: {pc['x86']}.", ""]
        lines += [f"- {f}" for f in pc["files"]]
        lines += ["", f"TensorFlow imported: {'yes' if pc['tensorflow_imported'] else 'never'}. Wall time of the whole "
                  f"check with warm caches: {pc['wall_s']:.0f} s (it runs in CI). Emulated latencies mean nothing and are "
                  "not reported.", ""]

    lines += imported_section()
    lines += ["## The study's own figures (theirs, Animals-10 at 100 px, not measured here)", "",
              "From `../shared/seed/reference-results.md`, for orientation only: different data, image size and training.", "",
              "| weight pruning sparsity | 0 % | 30 % | 50 % | 70 % | 90 % |", "|---|---|---|---|---|---|",
              "| val accuracy (theirs) | 77.46 | 72.73 | 74.57 | 79.56 | 62.18 |",
              "| size after zip (theirs, .h5 vs zipped stripped model) | 52.46 MB | 0.94 MB | 0.77 MB | 0.56 MB | 0.44 MB |",
              "| measured sparsity (theirs) | 0 % | 26.7 % | 43.6 % | 62.3 % | 71.7 % |", "",
              "| filter pruning ratio | 0 % | 30 % | 50 % | 70 % | 90 % |", "|---|---|---|---|---|---|",
              "| val accuracy (theirs) | 77.46 | 84.32 | 78.11 | 70.23 | 53.90 |",
              "| parameters (theirs) | 5,011,242 | 3,465,462 | 2,436,122 | 1,469,515 | 486,607 |", "",
              "Their accuracy gains compared a model fine-tuned 30 more epochs against one that was not, their sizes "
              "compared different formats, and they timed nothing; the tables above use a control, TFLite against "
              "TFLite, and measured latency.", ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
    print("written BENCHMARKS.md")


def imported_section() -> list[str]:
    """The imported model (benchmarks/imported_mobilenetv2.py), from its committed summary."""
    f = RES / "imported_mobilenetv2.json"
    if not f.is_file():
        return []
    d = load(f)
    imp, pr = d["import"], d["pruned"]
    rows = [[r["file"], f"{r['bytes']:,}", f"{r['gzip_bytes']:,}", pct(r["accuracy"]), f"{r['p50_ms']:.3f}"]
            for r in d["files"]]
    return ["## An imported model: MobileNetV2 trained with Keras 3", "",
            f"{d['what']}. Command: `{d['command']}` (Keras 3 training {d['train_seconds']} s). Figures from "
            "`benchmarks/results/imported_mobilenetv2.json`.", "",
            f"- Imported (`--preprocess mobilenet`, format {imp['source']['format']}): {imp['params']:,} parameters, "
            f"{imp['macs']:,} MACs; test accuracy {pct(imp['test_accuracy'])} % (val {pct(imp['val_accuracy'])} %).",
            f"- Weight-pruned to {pct(pr['sparsity'])} % of the prunable kernels ({pr['nonzero_params']:,} of "
            f"{pr['params']:,} parameters nonzero): test {pct(pr['test_accuracy'])} %, against the control fine-tuned "
            f"the same way {pct(pr['control_test_accuracy'])} %.",
            "- fp32 files agree with their Keras model on " + ", ".join(
                f"{pct(v)} % ({k})" for k, v in d["agreement_fp32"].items()) + " of test images.", "",
            f"Bench: {d['device']}, {d['threads']} threads, {d['runtime']['name']} {d['runtime']['version']}, median "
            "p50 of three side-by-side calls:", "",
            md_table(["file", "bytes", "gzip bytes", "file test acc %", "p50 ms"], rows), ""]


if __name__ == "__main__":
    main()
