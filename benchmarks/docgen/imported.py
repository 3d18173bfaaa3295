"""An imported model (benchmarks/imported_mobilenetv2.py), and the original study's own figures for orientation."""
from __future__ import annotations

from .common import RES, load, md_table, p_value, pct


def imported_section() -> list[str] | None:
    f = RES / "imported_mobilenetv2.json"
    if not f.is_file():
        return None
    d = load(f)
    imp, pr = d["import"], d["pruned"]
    ci = lambda r: f" [{r['p50_ci'][0]:.3f}-{r['p50_ci'][1]:.3f}]" if r.get("p50_ci") else ""  # noqa: E731
    sp = lambda r: ("-" if r.get("speedup_ci") is None else  # noqa: E731
                    f"{r['speedup_vs_dense_same_format']:.2f}x [{r['speedup_ci'][0]:.2f}-{r['speedup_ci'][1]:.2f}]")
    speed = any("speedup_vs_dense_same_format" in r for r in d["files"])
    rows = [[r["file"], f"{r['bytes']:,}", f"{r['gzip_bytes']:,}", pct(r["accuracy"]), f"{r['p50_ms']:.3f}{ci(r)}",
             *([sp(r)] if speed else [])] for r in d["files"]]
    paired = lambda vs: (f" (paired, on the same test images: {100 * vs['diff']:+.2f} ± {100 * vs['se']:.2f} "  # noqa: E731
                         f"points, McNemar p {p_value(vs['mcnemar_p'])})") if vs else ""
    fl = d.get("filtered")
    filtered = [] if not fl else [
        f"- Filter-pruned (`prune --method filter --ratio {fl['ratio']:g}`, {fl['finetune_epochs']} fine-tuning "
        f"epochs) through its channel graph: {fl['groups']} channel groups, {fl['groups_multi_layer']} of them tying "
        f"several layers (the residual adds, the depthwise convs and their BatchNorms), {fl['groups_pruned']} cut. "
        f"{fl['params']:,} parameters and {fl['macs']:,} MACs ({fl['macs_ratio']:.2f}x the MACs, "
        f"{1 / fl['macs_ratio']:.2f}x fewer); test {pct(fl['test_accuracy'])} %, against the control fine-tuned the "
        f"same way {pct(fl['control_test_accuracy'])} %{paired(fl.get('vs_control'))}."]
    how = (f"{d['rounds']} interleaved rounds of one call at the bench's defaults, p50 with its 95 % interval"
           if d.get("rounds") else "side-by-side calls made before `bench --rounds` (no intervals)")
    return ["## An imported model", "",
            f"{d['what']}. Command: `{d['command']}` (Keras 3 training {d['train_seconds']} s). Figures from "
            "`benchmarks/results/imported_mobilenetv2.json`.", "",
            f"- Imported (`--preprocess mobilenet`, format {imp['source']['format']}): {imp['params']:,} parameters, "
            f"{imp['macs']:,} MACs; test accuracy {pct(imp['test_accuracy'])} % (val {pct(imp['val_accuracy'])} %).",
            f"- Weight-pruned to {pct(pr['sparsity'])} % of the prunable kernels ({pr['nonzero_params']:,} of "
            f"{pr['params']:,} parameters nonzero): test {pct(pr['test_accuracy'])} %, against the control fine-tuned "
            f"the same way {pct(pr['control_test_accuracy'])} %{paired(pr.get('vs_control'))}.", *filtered,
            "- fp32 files agree with their Keras model on " + ", ".join(
                f"{pct(v)} % ({k})" for k, v in d["agreement_fp32"].items()) + " of test images.", "",
            f"Bench: {d['device']}, {d['threads']} threads, {d['runtime']['name']} {d['runtime']['version']}, {how}:",
            "", md_table(["file", "bytes", "gzip bytes", "file test acc %", "p50 ms" + (" [95 % CI]" if d.get("rounds") else ""),
                          *(["speed-up over the dense file of its format [95 % CI]"] if speed else [])], rows), ""]


def seed_reference_section() -> list[str] | None:
    f = RES / "seed_reference.json"
    if not f.is_file():
        return None
    d = load(f)
    w, fl = d["weight"], d["filter"]
    extra = d.get("setup", {}).get("finetune_epochs")
    return ["## The study's own figures (theirs, not measured here)", "",
            f"From {d['source']}; for orientation only: different data, image size and training. Copied into "
            "`benchmarks/results/seed_reference.json`.", "",
            md_table(["weight pruning sparsity", *(f"{v:g} %" for v in w["sparsity"])],
                     [["val accuracy (theirs)", *(f"{v:.2f}" for v in w["val_accuracy"])],
                      ["size after zip (theirs, .h5 vs zipped stripped model)", *w["size_after_zip"]],
                      ["measured sparsity (theirs)", *(f"{v:g} %" for v in w["measured_sparsity"])]]), "",
            md_table(["filter pruning ratio", *(f"{v:g} %" for v in fl["ratio"])],
                     [["val accuracy (theirs)", *(f"{v:.2f}" for v in fl["val_accuracy"])],
                      ["parameters (theirs)", *(f"{v:,}" for v in fl["params"])]]), "",
            "Their accuracy gains compared a model fine-tuned " + (f"{extra} " if extra else "") +
            "more epochs against one that was not, their sizes "
            "compared different formats, and they timed nothing; the tables above use a control, TFLite against "
            "TFLite, and measured latency.", ""]
