"""The study on real photos (benchmarks/study.sh): the machine, accuracy against the control (paired, and over seeds
for the key cells), sizes against both floors, latency with intervals, the best model under 1 MB and the full table.

Everything is read from benchmarks/results/study/, which benchmarks/study_results.py fills from the study's work
folder: the baseline's run summary, the sweeps' results.jsonl, each bundle's export.json and model.json, one bench
JSON of every file in interleaved rounds, and the sensitivity scan."""
from __future__ import annotations

import statistics
from pathlib import Path

from edgeprune.device.intervals import bootstrap_ci, paired_ratios, resolved
from edgeprune.paired_accuracy import compare
from edgeprune.readers import read_bench_file
from edgeprune.records import SweepCell
from edgeprune.study.entries import attach_bench, bench_key, load_inputs
from edgeprune.study.report import dense_reference, markdown_table, pick, table_rows
from edgeprune.study.seeds import over_seeds, points

from .common import GOALS, RES, jsonl, load, md_table, p_value, pct

STUDY = RES / "study"
PICK_MAX_GZIP_MB = 1.0  # the question put to `report --pick`: the best model under this gzip size
IDENTITY = (("cpu_vendor", "vendor"), ("cpu_family", "family"), ("cpu_model", "model"), ("cpu_stepping", "stepping"),
            ("cpu_core", "core"), ("max_mhz", "max MHz"))


class Study:
    """The study's committed results, read once."""

    def __init__(self, folder: Path = STUDY):
        self.folder = folder
        self.base = load(folder / "baseline.json")
        self.cells = jsonl(folder / "sweep" / "results.jsonl")
        self.seeds = jsonl(folder / "seeds" / "results.jsonl") if (folder / "seeds" / "results.jsonl").is_file() else {}
        self.bench = read_bench_file(folder / "bench.json")
        self.rows = {bench_key(r): r for r in self.bench.results if not r.self_check}
        self.entries, self.warnings, _ = load_inputs([folder / "sweep" / "results.jsonl", folder / "sweep" / "exports"])
        seen, unique = set(), []
        for e in self.entries:  # a bundle reached from results.jsonl and from exports/ counts once
            if e.key not in seen:
                seen.add(e.key)
                unique.append(e)
        self.entries = unique
        attach_bench(self.entries, list(self.bench.results))
        self.ref = dense_reference(self.entries)
        self.by = {(e.bundle, e.format): e for e in self.entries}
        self.control = next((c for k, c in self.cells.items() if k.startswith("control") and not c.get("error")), None)
        self.sensitivity = load(folder / "sensitivity.json") if (folder / "sensitivity.json").is_file() else None
        self.seconds = load(folder / "seconds.json") if (folder / "seconds.json").is_file() else None
        ref = RES / "seed_reference.json"
        self.theirs = load(ref).get("setup") if ref.is_file() else None  # the original study's settings

    def cells_of(self, method: str) -> list[str]:
        """The sweep's cells of one method that ran, in the sweep's order."""
        return [k for k, r in self.cells.items() if r["method"] == method and not r.get("error")]

    def row(self, bundle: str, fmt: str):
        """The bench row of bundle's file in this format (fp32.tflite, or fp32-sparse.tflite where that was kept)."""
        e = self.by.get((bundle, fmt))
        return self.rows.get(e.key) if e else None

    def speedup(self, bundle: str, fmt: str, over: str = "dense"):
        """The speed-up of bundle's file over ``over``'s in the same format: median of the per-round ratios, its
        95 % bootstrap interval and whether it is resolved; None where either was not measured."""
        a, b = self.row(over, fmt), self.row(bundle, fmt)
        if not a or not b or not a.p50_rounds or not b.p50_rounds:
            return None
        ratios = paired_ratios(a.p50_rounds, b.p50_rounds)
        ci = bootstrap_ci(ratios)
        return statistics.median(ratios), ci, resolved(ci)


def _ci(ci, digits=3) -> str:
    return f"[{ci[0]:.{digits}f}-{ci[1]:.{digits}f}]"


def machine_section(s: Study) -> list[str]:
    dev = s.bench.device
    rt = next(r.runtime for r in s.bench.results if r.runtime and r.runtime.get("version"))
    v = s.base["versions"]
    secs = s.seconds
    ident = [f"{name} {dev[k]}" for k, name in IDENTITY if dev.get(k) is not None]
    if dev.get("isa"):
        ident.append("ISA " + " ".join(dev["isa"]))
    cpu = f"{dev['cpu']} ({', '.join(ident)})" if ident else \
        f"{dev['cpu']} (the results record only this model name: no family, model, stepping or ISA flags)"
    lines = ["## Machine", "",
             f"- CPU: {cpu}, {dev['cores']} cores, {dev['machine']}, {dev['os']}, Python {dev['python']}",
             f"- TensorFlow {v['tensorflow']}, tf-keras {v['tf_keras']}, tfmot {v.get('tensorflow_model_optimization')}, "
             f"runtime {rt['name']} {rt['version']}, XNNPACK on, {s.bench.results[0].threads} threads"]
    if secs:
        lines.append(f"- Wall time of the study: training, pruning and export {secs['train_seconds'] / 60:.0f} min, "
                     f"the bench of every file {secs['bench_seconds'] / 60:.0f} min")
    return lines + [""]


def accuracy_lines(s: Study) -> list[str]:
    base, c = s.base, s.control
    counts = base["data"]["counts"]
    opts = base["options"]
    epochs = c["epochs"] if c else "?"
    t = s.theirs or {}
    study = lambda what: f" (study: {what})" if t else ""  # noqa: E731
    hybrid = next((s.cells[k]["options"]["hybrid_ratio"] for k in s.cells_of("hybrid")), None)
    cores = s.bench.device["cores"]
    lines = ["## The study on real photos", "",
             f"Data: `../shared/data/cifar10-animals` (CIFAR-10's {len(counts['train'])} animal classes, JPEG; it "
             "stands in for Animals-10, which cannot be downloaded here). "
             f"Train {sum(counts['train']):,} / val {sum(counts['val']):,} / test {sum(counts['test']):,} images "
             "(the folder's fixed test split, all of it).", "",
             f"What was cut to fit on {cores} cores, against the study: {base['image_size']} px"
             + (f" instead of {t['image_size']} px" if t else "") +
             f"; {opts['limit_per_class']:,} photos per class for training and validation (`--limit-per-class`); "
             f"baseline {base['epochs_run']} epochs{study('up to ' + str(t.get('epochs')))} at lr {opts['lr']} with "
             f"`--augment {opts['augment']}` (the study's augmentation is too heavy at {base['image_size']} px); "
             f"fine-tuning {epochs} epochs per cell at lr {c['options']['lr'] if c else '?'}"
             f"{study(str(t.get('finetune_epochs')) + ' epochs at ' + str(t.get('finetune_lr')))}."
             + (f" Hybrid: filter ratio {hybrid:g}, then weight pruning." if hybrid is not None else ""), "",
             "Commands: `bash benchmarks/study.sh` (the baseline is `benchmarks/train_baseline.sh`), then "
             "`python benchmarks/study_results.py` copies the small result files into `benchmarks/results/study/`, "
             "and `python benchmarks/sections.py` writes this file from them.", "",
             f"Baseline (dense, unpruned): test accuracy {pct(base['test_accuracy'])} % (Keras), "
             f"{base['params']:,} parameters, {s.ref['fp32'].macs:,} MACs; BatchNorm re-estimation: val "
             f"{pct(base['bn_recalibration']['val_accuracy_before'])} -> "
             f"{pct(base['bn_recalibration']['val_accuracy_after'])} %.", ""]
    rows = []
    for k, r in s.cells.items():
        if r["method"] not in ("weight", "filter", "hybrid") or r.get("error"):
            continue
        vs = compare(r["test_correct"], c["test_correct"]) if c else None
        rows.append([k, r["method"], r["value"], pct(r["sparsity"]) if r["method"] != "filter" else "-",
                     f"{r['params']:,}", f"{r['nonzero_params']:,}", pct(r["test_accuracy"]), pct(c["test_accuracy"]),
                     vs.points() if vs else "-", f"[{100 * vs.ci95[0]:+.2f}, {100 * vs.ci95[1]:+.2f}]" if vs else "-",
                     p_value(vs.mcnemar_p) if vs else "-"])
    lines += ["### Does moderate pruning raise accuracy once the control gets the same fine-tuning?", "",
              "The control is the unpruned baseline fine-tuned for the same epochs, rate and data "
              f"(test {pct(c['test_accuracy'])} %; the baseline before it: {pct(base['test_accuracy'])} %). Each "
              f"difference is paired: both models scored on the same {sum(counts['test']):,} test images, ± one "
              "standard error, its 95 % interval, and McNemar's exact p on the images only one of the two got right.",
              "",
              md_table(["cell", "method", "target", "measured sparsity %", "params", "nonzero", "test acc %",
                        "control test acc %", "pruned − control (points ± s.e.)", "95 % interval", "McNemar p"], rows),
              ""]
    if c:
        gain = compare(c["test_correct"], base.get("test_correct"))  # a baseline trained before edgeprune kept it
        text = f"{gain.points()} points (paired)" if gain else \
            f"{100 * (c['test_accuracy'] - base['test_accuracy']):+.2f} points (not paired: the baseline's run predates " \
            "the per-image record)"
        lines += [f"The control gained {text} over the baseline from the extra fine-tuning alone: the share of any "
                  "'pruning gain' the original study could not separate.", ""]
    failed = [f"{k}: {r['error']}" for k, r in s.cells.items() if r.get("error")]
    if failed:
        lines += ["Cells that failed: " + "; ".join(failed), ""]
    return lines + seeds_lines(s)


def seeds_lines(s: Study) -> list[str]:
    """The key cells over seeds: the study's own cell (seed 42) and the seeds sweep, each against its own control
    (edgeprune.study.seeds, which `sweep --seeds` prints)."""
    if not s.seeds:
        return []
    cells = [SweepCell.from_dict(d, "results.jsonl") for d in list(s.cells.values()) + list(s.seeds.values())]
    groups = {g.cell: g for g in over_seeds(cells)}
    key_cells = [k for k in groups if k in s.cells and s.cells[k]["method"] != "none" and len(groups[k].seeds) > 1]
    own_seed = next(iter(s.cells.values()))["seed"]
    rows = []
    for kc in (*key_cells, next(k for k in groups if k.startswith("control"))):
        g = groups.get(kc)
        if g is None:
            continue
        per = "; ".join(f"{d.points()}" for d in g.vs_control if d is not None) or "-"
        rows.append([kc, ", ".join(map(str, g.seeds)), points(g.accuracy()), points(g.difference(), signed=True), per])
    return ["### The key cells over seeds", "",
            ", ".join(f"`{k}`" for k in key_cells[:-1]) + f" and `{key_cells[-1]}` fine-tuned with more seeds (the "
            f"seeds sweep of `benchmarks/study.sh`; seed {own_seed} is the study's own cell), each against a control "
            "fine-tuned with the same seed. Mean ± sd over seeds; the last column is each seed's paired difference ± its s.e. The sd over seeds "
            "is the training noise a single-seed difference hides; the paired s.e. covers only the choice of test "
            "images.", "",
            md_table(["cell", "seeds", "test acc % (mean ± sd)", "pruned − control, points (mean ± sd)",
                      "per seed (paired, ± s.e.)"], rows), ""]


def size_lines(s: Study) -> list[str]:
    rows = []
    for e in sorted(s.entries, key=lambda e: (e.format, e.bundle)):
        r = s.ref.get(e.format)
        rows.append([e.bundle, e.format + (" sparse" if e.sparse else ""), f"{e.bytes:,}", f"{e.gzip_bytes:,}",
                     f"{r.bytes / e.bytes:.2f}x" if r else "-", f"{r.gzip_bytes / e.gzip_bytes:.2f}x" if r else "-",
                     f"{e.naive_bound_bytes:,}", f"{e.gzip_bytes / e.naive_bound_bytes:.2f}x",
                     f"{e.entropy_floor_bytes:,}", f"{e.gzip_bytes / e.entropy_floor_bytes:.2f}x", pct(e.accuracy)])
    lines = ["### How much smaller is each model in the same format, and how far from its floor?", "",
             "Two bounds over the Conv2D/Dense kernels and biases. The naive bound is nonzero weights x bytes per "
             "weight (fp32 4, int8 1) + the entropy of the zero/non-zero mask: gzip can beat it, because repeated "
             "values cost less than a full weight. The entropy floor is the mask's entropy + the order-0 entropy of "
             "the stored nonzero values per tensor, which no coder of values one by one goes below. Ratios are "
             "against the dense model in the same format.", "",
             md_table(["model", "format", "bytes", "gzip bytes", "x smaller raw", "x smaller gzip", "naive bound",
                       "gzip / naive", "entropy floor", "gzip / entropy floor", "file test acc %"], rows), ""]
    by = s.by
    w90, c16, d32 = by.get(("weight-90", "int8")), by.get(("weight-90-c16", "int8")), s.ref.get("fp32")
    if w90 and c16 and d32:
        lines += [f"The int8 export of `weight-90` (weight pruning to {pct(s.cells['weight-90']['sparsity'])} %):", "",
                  f"- as converted: gzip is {w90.gzip_bytes / w90.naive_bound_bytes:.2f}x the naive bound and "
                  f"{w90.gzip_bytes / w90.entropy_floor_bytes:.2f}x the entropy floor; "
                  f"{d32.gzip_bytes / w90.gzip_bytes:.1f}x below the dense fp32 gzip;",
                  f"- with sparsity-preserving clustering (`weight-90-c16`): {c16.gzip_bytes / c16.naive_bound_bytes:.2f}x "
                  f"the naive bound and {c16.gzip_bytes / c16.entropy_floor_bytes:.2f}x the entropy floor, "
                  f"{d32.gzip_bytes / c16.gzip_bytes:.1f}x below the dense fp32 gzip; test accuracy "
                  f"{pct(c16.accuracy)} % against {pct(w90.accuracy)} % unclustered.", ""]
    return lines


def latency_lines(s: Study) -> list[str]:
    b = s.bench.results[0]
    lines = ["### Which method actually lowers CPU latency, next to its MACs ratio?", "",
             f"`edgeprune bench` of every file in one call: {b.rounds} interleaved rounds, each file in a fresh "
             "process every round, timed at batch 1 for at least the `--min-time` of each round; p50 is the median "
             "of the round medians with its 95 % bootstrap interval. The speed-up over the dense file of the same "
             "format is the median of the per-round ratios (both files timed in the same round), with its interval; "
             "'not resolved' marks an interval that holds 1.0.", "",
             ]
    rows = []
    for e in sorted(s.entries, key=lambda e: (e.format, e.bundle)):
        r = s.row(e.bundle, e.format)
        sp = s.speedup(e.bundle, e.format)
        if not r or not r.p50:
            rows.append([e.bundle, e.format, "-", "-", "-", "-"])
            continue
        macs = s.ref["fp32"].macs
        sp_text = "-" if sp is None or e.bundle == "dense" else (
            f"{sp[0]:.3f}x {_ci(sp[1])}" + ("" if sp[2] else " not resolved"))
        rows.append([e.bundle, e.format + (" sparse" if e.sparse else ""), f"{r.p50:.3f} {_ci(r.p50_ci)}", sp_text,
                     f"{1 / sp[0]:.2f}" if sp else "-", f"{e.macs / macs:.2f}" if e.macs and macs else "-"])
    lines += [md_table(["model", "format", "p50 ms [95 % CI]", "speed-up over dense [95 % CI]", "latency ratio",
                        "MACs ratio"], rows), ""]
    ratio, goal = GOALS["filter_ratio"], GOALS["filter_latency"]
    cell = next((k for k in s.cells_of("filter") if s.cells[k]["value"] == ratio), None)
    f50 = s.speedup(cell, "fp32") if cell else None
    if f50:
        lines += [f"Filter pruning at ratio {ratio:g} (uniform, `{cell}`), fp32: {1 / f50[0]:.2f}x the dense latency "
                  f"(interval {1 / f50[1][1]:.2f}-{1 / f50[1][0]:.2f}; target <= {goal:.2f}x: "
                  f"{'met' if 1 / f50[1][0] <= goal else 'met by the median' if 1 / f50[0] <= goal else 'not met'}), "
                  f"MACs ratio {s.by[(cell, 'fp32')].macs / s.ref['fp32'].macs:.2f}.", ""]
    lines += twin_lines(s)
    return lines


def twin_lines(s: Study) -> list[str]:
    """The comparisons the audit found unresolved: `--round-to 8` at filter 50 %, and hybrid-50 against filter-30 in
    int8 (both are filter 0.3; int8 files store the weights dense)."""
    by = s.by
    out = []
    for a, b, fmt in (("filter-50", "filter-50-r8", "fp32"), ("filter-50", "filter-50-r8", "int8"),
                      ("filter-30", "hybrid-50", "int8")):
        sp = s.speedup(b, fmt, over=a)
        ea, eb = by.get((a, fmt)), by.get((b, fmt))
        if not sp or not ea or not eb:
            continue
        same = ea.params == eb.params and ea.macs == eb.macs
        verdict = "resolved" if sp[2] else "not resolved"
        out.append(f"- `{b}` against `{a}`, {fmt}: {b} runs {sp[0]:.3f}x as fast as {a} {_ci(sp[1])}: **{verdict}**"
                   + (f" (the two have the same parameters and MACs, {ea.params:,} and {ea.macs:,}: the same "
                      "network shape)" if same else f" ({eb.params:,} against {ea.params:,} parameters)") + ".")
    return (["Pairs an earlier table read as different:", "", *out, ""]) if out else []


def pick_and_tables(s: Study, report_dir: Path | None) -> list[str]:
    best = pick(s.entries, PICK_MAX_GZIP_MB, None, None)
    lines = [f"### What is the best model under {PICK_MAX_GZIP_MB:g} MB gzip?", "",
             f"`edgeprune report --pick --max-gzip-mb {PICK_MAX_GZIP_MB:g}`: {best.message}.", ""]
    rows = []
    c = s.control
    filters = s.cells_of("filter")
    for k in filters:
        r = s.cells[k]
        p = {f: s.row(k, f) for f in ("fp32", "int8")}
        vs = compare(r["test_correct"], c["test_correct"])
        rows.append([k, pct(r["test_accuracy"]), pct(c["test_accuracy"]), vs.points() if vs else "-",
                     f"{r['params']:,}", f"{r['macs']:,}",
                     *(f"{p[f].p50:.3f} {_ci(p[f].p50_ci)}" if p[f] and p[f].p50 else "-" for f in ("fp32", "int8"))])
    lines += ["### Filter pruning at " + "/".join(f"{s.cells[k]['value']:g}" for k in filters), "",
              md_table(["cell", "test acc %", "control %", "pruned − control (points ± paired s.e.)", "params", "MACs",
                        "fp32 p50 ms [95 % CI]", "int8 p50 ms [95 % CI]"], rows), ""]
    cols, trows = table_rows(s.entries)
    lines += ["## Full comparison table", "",
              "`edgeprune report` over the study's results (the same rows as `benchmarks/results/report/report.md`).",
              "", markdown_table(cols, trows), ""]
    if report_dir is not None:  # only when writing: the plots are files, not text this check could compare
        from edgeprune.study.report import write_report

        when = load(STUDY / "bench.json").get("finished", "")  # the report's date: its bench's, not today's
        write_report(s.entries, report_dir, s.warnings, s.sensitivity, force=True,
                     written=when[:16].replace("T", " ") or None)
    lines += ["![accuracy vs gzip](benchmarks/results/report/accuracy_vs_gzip.png)", "",
              "![accuracy vs latency](benchmarks/results/report/accuracy_vs_latency.png)", ""]
    if s.sensitivity:
        lines += ["![sensitivity](benchmarks/results/report/sensitivity.png)", ""]
    return lines


def study_section(report_dir: Path | None = None) -> list[str] | None:
    if not (STUDY / "baseline.json").is_file():
        return None
    s = Study()
    return (machine_section(s) + accuracy_lines(s) + size_lines(s) + latency_lines(s)
            + pick_and_tables(s, report_dir))
