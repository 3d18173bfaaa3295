"""Issue 23: latency tables of graph models (benchmarks/graph_latency.sh, which writes benchmarks/results/graph_latency/:
summary.json from the last machine, earlier-*.json from machines before it)."""
from __future__ import annotations

from .common import GOALS, RES, load, machine, md_table, within


def _verdict(first: float, r: dict) -> str:
    """Met or not met only where two runs of the same probe agree: their held-out files land closer together than
    the goal, and each run's own table is on the same side of it."""
    goal = GOALS["prediction_error"]
    if r["median_abs_difference"] >= goal:
        return "not resolved (two runs differ as much)"
    if (first <= goal) != (r["median_abs_error"] <= goal):
        return "not resolved (one run's table meets it, the other's does not)"
    return within(first, goal)


def _table(d: dict) -> list[str]:
    rows = []
    again = any("remeasured" in c for m in d["models"] for c in m["formats"].values())
    for m in d["models"]:
        p = m["probe"]
        for fmt, c in m["formats"].items():
            errs = [abs(r["error"]) for r in c["rows"]]
            row = [m["title"], f"{m['params']:,}", f"{p['groups']}", f"{p['segments']} "
                   f"({p['segments_with_a_width_axis']} with a width axis)", f"{p['files']:,}", fmt,
                   f"{c['dense_predicted_ms']:.3f}", len(c["rows"]), f"{100 * c['median_abs_error']:.1f} %",
                   f"{100 * max(errs):.1f} %" if errs else "-", f"{c['a']:.4f} + {c['b']:.3f} x sum",
                   within(c["median_abs_error"], GOALS["prediction_error"])]
            r = c.get("remeasured")
            if r:
                row[-1] = _verdict(c["median_abs_error"], r)
            if again:
                row += [f"{100 * r['median_abs_difference']:.1f} % (largest {100 * r['largest_difference']:.1f} %)"
                        if r else "-", f"{100 * r['median_abs_error']:.1f} %" if r else "-"]
            rows.append(row)
    head = ["model", "params", "groups", "segments", "probe files", "format", "dense predicted ms",
            "held-out variants", "median abs error", "largest", "fit (ms)",
            f"goal ≤ {100 * GOALS['prediction_error']:.0f} %"]
    if again:
        head += ["second run of the same files: median difference from the first", "second run's own error"]
    return [md_table(head, rows), ""]


def graph_latency_section() -> list[str] | None:
    folder = RES / "graph_latency"
    files = [f for f in [folder / "summary.json", *sorted(folder.glob("earlier-*.json"))] if f.is_file()]
    summaries = [(f, load(f)) for f in files]
    summaries = [(f, d) for f, d in summaries if d["models"]]
    if not summaries:
        return None
    d = summaries[0][1]
    first = d["models"][0]
    out = ["## Latency tables of graph models (issue 23)", "",
           f"Command: `{d['command']}` (results in `benchmarks/results/graph_latency/`). Each model was "
           "trained one short epoch on ../shared/data/cifar10-animals (a table times widths, not weights), probed in "
           f"fp32 and int8 with widths in steps of {first['round_to']} (one segment per convolution or dense layer, "
           "its widths the channel groups'), and the probe measured on the machine named below at "
           f"{first['threads']} threads. The error is over the held-out variants: whole models at random group widths "
           "that the fit did not see. A table belongs to the machine that measured it, so each machine's tables are "
           "kept.", ""]
    for f, s in summaries:
        m0 = s["models"][0]
        how = (f"each file's time its fastest of {m0['passes']} passes" if m0.get("estimator") == "fastest pass"
               else "each file's time the median of its passes")
        out += [f"**{machine(m0['device'])}** (`{f.name}`; {how})", ""]
        out += _table(s)
        slow = [(m["title"], fmt, c["slow_passes"]) for m in s["models"] for fmt, c in m["formats"].items()
                if (c.get("slow_passes") or {}).get("files")]
        if slow:
            sp = slow[0][2]
            out += [f"A file's passes here were often far apart: the share of files with a pass at least "
                    f"{sp['slow_ratio']:g}x their fastest was "
                    + ", ".join(f"{100 * d['with_a_slow_pass'] / d['files']:.0f} % ({t}, {fmt})" for t, fmt, d in slow)
                    + ". Other work only slows a pass, so a file's time is its fastest pass."]
            apart = [(m["title"], fmt, c["remeasured"]) for m in s["models"] for fmt, c in m["formats"].items()
                     if (c.get("remeasured") or {}).get("files")]
            if apart:
                out[-1] += (f" Even so, of all the probe's files (segments too), the share whose two runs came out "
                            f"more than {apart[0][2]['apart_ratio']:g}x apart was "
                            + ", ".join(f"{100 * r['files_apart'] / r['files']:.1f} % ({t}, {fmt})" for t, fmt, r in apart)
                            + ": a file slowed in every one of its passes moves the table.")
            out += [""]
        if any("remeasured" in c for m in s["models"] for c in m["formats"].values()):
            out += ["The probes were measured a second time with `latency measure` (the same files, another run on "
                    "the same machine, nothing else of this project running). The difference column says how far two "
                    "runs of one held-out file disagree: where it is as large as the goal, one run cannot tell "
                    "whether the table meets it, and the goal column says \"not resolved\"; it says so too where one "
                    "run's table meets the goal and the other's does not. The segments move a table as well: the "
                    "two runs' own errors, side by side, show by how much.", ""]
    return out
