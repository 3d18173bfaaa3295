"""Issue 23: latency tables of graph models (benchmarks/graph_latency.sh, which writes benchmarks/results/graph_latency/)."""
from __future__ import annotations

from .common import GOALS, RES, load, machine, md_table, within


def graph_latency_section() -> list[str] | None:
    f = RES / "graph_latency" / "summary.json"
    if not f.is_file():
        return None
    d = load(f)
    if not d["models"]:
        return None
    first = d["models"][0]
    out = ["## Latency tables of graph models (issue 23)", "",
           f"Command: `{d['command']}` (results in `benchmarks/results/graph_latency/summary.json`). Each model was "
           "trained one short epoch on ../shared/data/cifar10-animals (a table times widths, not weights), probed in "
           f"fp32 and int8 with widths in steps of {first['round_to']} (one segment per convolution or dense layer, "
           "its widths the channel groups'), and the probe measured on this machine "
           f"({machine(first['device'])}, {first['threads']} threads). The error is over the held-out variants: "
           "whole models at random group widths that the fit did not see.", ""]
    rows = []
    for m in d["models"]:
        p = m["probe"]
        for fmt, c in m["formats"].items():
            errs = [abs(r["error"]) for r in c["rows"]]
            rows.append([m["title"], f"{m['params']:,}", f"{p['groups']}", f"{p['segments']} "
                         f"({p['segments_with_a_width_axis']} with a width axis)", f"{p['files']:,}", fmt,
                         f"{c['dense_predicted_ms']:.3f}", len(c["rows"]), f"{100 * c['median_abs_error']:.1f} %",
                         f"{100 * max(errs):.1f} %" if errs else "-", f"{c['a']:.4f} + {c['b']:.3f} x sum",
                         within(c["median_abs_error"], GOALS["prediction_error"])])
    out += [md_table(["model", "params", "groups", "segments", "probe files", "format", "dense predicted ms",
                      "held-out variants", "median abs error", "largest", "fit (ms)",
                      f"goal ≤ {100 * GOALS['prediction_error']:.0f} %"], rows), ""]
    return out
