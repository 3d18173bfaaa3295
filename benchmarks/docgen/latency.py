"""Issue 13: prune to a latency budget (benchmarks/latency_budget.sh, which writes benchmarks/results/latency/)."""
from __future__ import annotations

from pathlib import Path

from .common import GOALS, RES, load, md_table, pct, within

LAT = RES / "latency"


def ms(v: float) -> str:
    return f"{v:.3f}"


def ci(c) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "-"


def check_rows(d: dict) -> list[list]:
    rows = []
    for fmt, c in d["check"].items():
        errs = [abs(r["predicted"] - r["measured"]) / r["measured"] for r in c["rows"]]
        rows.append([fmt, len(c["rows"]), f"{100 * c['median_abs_error']:.1f} %", f"{100 * max(errs):.1f} %",
                     f"{c['a']:.4f} + {c['b']:.3f} x sum", within(c["median_abs_error"], GOALS["prediction_error"])])
    return rows


def verdict(diff: dict | None) -> str:
    if not diff:
        return "-"
    if diff["diff"] >= 0:
        return "at least as accurate"
    return "less accurate, within one s.e." if diff["diff"] > -diff["se"] else "less accurate"


def target_rows(d: dict) -> list[list]:
    rows = []
    for t in d["targets"]:
        diff = t["budget_minus_uniform"]
        over_ci = t.get("measured_over_target_ci")
        u_ci = t.get("uniform_over_budget_ci")
        rows.append([f"{t['fraction']:g}x", ms(t["target_ms"]), ms(t["predicted_ms"]),
                     f"{ms(t['budget_p50'])} {ci(t['budget_ci'])}",
                     f"{t['measured_over_target']:.3f}" + (f" {ci(over_ci)}" if over_ci else ""),
                     within(t["measured_over_target"], GOALS["target_ratio"]),
                     f"{t['uniform_ratio']:g}", f"{ms(t['uniform_p50'])} {ci(t['uniform_ci'])}",
                     f"{t['uniform_over_budget']:.3f}" + (f" {ci(u_ci)}" if u_ci else ""),
                     "yes" if abs(t["uniform_over_budget"] - 1) <= GOALS["equal_latency"] else "no",
                     f"{t['budget_params']:,} / {t['uniform_params']:,}",
                     f"{pct(t['budget_test'])} / {pct(t['uniform_test'])}",
                     f"{100 * diff['diff']:+.2f} ± {100 * diff['se']:.2f}" if diff else "-",
                     verdict(diff)])
    return rows


GOAL_COL = f"goal ≤ {GOALS['target_ratio']:g}"
TARGET_COLS = ["target", "target ms", "predicted ms", "measured p50 ms [95 % CI]", "measured / target", GOAL_COL,
               "uniform ratio", "uniform p50 ms [95 % CI]", "uniform / budget",
               f"equal within {100 * GOALS['equal_latency']:g} %", "params budget / uniform", "test % budget / uniform",
               "budget − uniform (points ± paired s.e.)", "budget model"]


def uniform_fit_error(fmt: str) -> tuple[int, float, float]:
    """The table's validation error with the overhead fitted on its uniform whole models alone (every layer at one
    fraction of its width), without the random ones the probe adds to the fit: how many, the median error, and the
    median error of the full fit, both read as `latency measure` reads a table now (each file's fastest pass)."""
    import statistics

    import numpy as np

    from edgeprune.latency.model import LatencyModel, median_abs_error
    from edgeprune.readers import read_latency_table

    m = LatencyModel(read_latency_table(LAT / "table.json"), fmt)
    uniform = [v for v in m.variants if v.role == "fit" and len({w / m.widths[k] for k, w in v.widths.items()}) == 1]
    b, a = np.polyfit([m.raw(v.widths) for v in uniform], [v.measured for v in uniform], 1)
    errs = [abs(a + b * m.raw(v.widths) - v.measured) / v.measured for v in m.variants if v.role == "validate"]
    return len(uniform), statistics.median(errs), median_abs_error(m.check())


def probed(d: dict, table: dict) -> str:
    p = d["probe"]
    points = max(len(s["couts"]) for s in table["probe"]["segments"])
    return (f"`--formats {','.join(p['formats'])} --round-to {p['round_to']} --points {points} --variants "
            f"{p['validate']}`: {p['fit']} whole models at uniform and at random widths to fit the overhead, "
            f"{p['validate']} others to validate")


def pass_spread(table: dict) -> tuple[int, int, float, float]:
    """How far one pass of a file sits from another in the table: (files, passes, median and largest spread),
    a file's spread being (max - min) / median of its passes' p50."""
    import statistics

    spreads = [(max(q) - min(q)) / statistics.median(q) for r in table["rows"] if len(q := r.get("p50_passes") or []) > 1]
    passes = max(len(r.get("p50_passes") or []) for r in table["rows"])
    return len(spreads), passes, statistics.median(spreads), max(spreads)


def feedback_lines(d: dict) -> list[str]:
    """What round 2 shows of the feedback, computed: whether both rounds met the goal, and whether the factor
    over-corrected (round 2's models came out below what their table alone predicted for them)."""
    goal = GOALS["target_ratio"]
    both = all(r["measured_over_target"] <= goal for r in d["round1"]) and \
        all(t["measured_over_target"] <= goal for t in d["targets"])
    own = [t["budget_p50"] / t["table_predicted_ms"] for t in d["targets"]]
    factors = [t["feedback_factor"] for t in d["targets"]]
    text = ("Both rounds meet the targets (measured / target ≤ " if both else "Not every round meets the targets "
            "(measured / target ≤ ") + f"{goal:g}). Round 2's models measured " + ", ".join(f"{x:.3f}" for x in own) + \
        " times their table's own prediction"
    if all(x < 1 for x in own) and all(f > 1 for f in factors):
        text += (", so the factors measured on round 1's models (" + ", ".join(f"{f:.3f}" for f in factors) +
                 ") over-corrected")
    largest = max(abs(r["predicted"] - r["measured"]) / r["measured"] for r in d["check"]["fp32"]["rows"])
    if all(abs(f - 1) <= largest for f in factors):
        text += (f": each is within what the table misses on one held-out model (largest fp32 error "
                 f"{100 * largest:.1f} %), and the feedback is for a table that is off by more than that")
    return [text + ".", ""]


def latency_section() -> list[str] | None:
    f = LAT / "summary.json"
    if not f.is_file():
        return None
    d, table = load(f), load(LAT / "table.json")
    lines = ["## Prune to a latency budget (issue 13)", "",
             f"`bash benchmarks/latency_budget.sh`: the study CNN at {table['probe']['model']['image_size']} px "
             f"(`{d['run']}`, {d['run_params']:,} parameters, test {pct(d['run_test'])} %) on "
             f"../shared/data/cifar10-animals, probed ({probed(d, table)}), the probe measured on this machine as the "
             f"device ({d['table']}; `latency measure` at its defaults, {d['passes']} passes per file), then pruned "
             f"to targets and fine-tuned {d['epochs']} epochs at {d['lr']:g}. Figures from "
             f"`{f.parent.relative_to(RES.parent.parent)}/` (the table, its check and summary.json).", "",
             "**Prediction**, on the whole models at random per-layer widths that were not used to fit the overhead:", "",
             md_table(["format", "variants", "median abs error", "largest", "fit (ms)",
                       f"goal ≤ {100 * GOALS['prediction_error']:g} %"], check_rows(d)), ""]
    n, passes, med, top = pass_spread(table)
    k, uniform_only, full = uniform_fit_error("int8")
    lines += [f"Each file is timed in {passes} passes, each in its own shuffled order: between passes, a file's p50 "
              f"moved by a median of {100 * med:.1f} % here (largest {100 * top:.0f} %; (max − min) / median over "
              f"{n:,} files)."]
    if d.get("estimator") != "fastest pass":
        lines[-1] += (" The check above took each file's median pass, the table's entry when it was measured; "
                      "`latency measure` now takes the fastest (other work only slows a pass; see the graph tables' "
                      f"section). Read that way, with the held-out files' times read alike, the same table predicts "
                      f"int8 within {100 * full:.1f} %.")
    lines[-1] += (" Whole models at random widths join the uniform ones in fitting the overhead, since pruning "
                  f"chooses uneven widths: refitted on the {k} uniform ones alone "
                  f"(fastest passes), it predicts int8 within {100 * uniform_only:.1f} %, against {100 * full:.1f} % "
                  "with them.")
    lines += [""]
    dn = d["dense"]
    uniform_how = ("the uniform filter ratio whose file measured closest to the budget model's, among candidates "
                   "timed beside it (`summary.json`, `candidates`), then fine-tuned the same way" if "candidates" in d
                   else "the uniform filter ratio with the same predicted latency")
    lines += [f"**Targets** (fp32, {d['threads']} threads): the dense model is predicted at {ms(dn['predicted_ms'])} ms "
              f"and measured at {ms(dn['measured_p50'])} ms (95 % interval {ci(dn['ci'])}; {d['bench']['rounds']} "
              "interleaved rounds of `edgeprune bench`).", ""]
    if d.get("round1"):
        rows = [[f"{r['fraction']:g}x", ms(r["target_ms"]), ms(r["predicted_ms"]), f"{ms(r['p50'])} {ci(r['ci'])}",
                 f"{r['measured_over_target']:.3f}", within(r["measured_over_target"], GOALS["target_ratio"])]
                for r in d["round1"]]
        lines += ["Round 1, the table alone (`prune --target-ms`):", "",
                  md_table(["target", "target ms", "predicted ms", "measured p50 ms [95 % CI]", "measured / target",
                            GOAL_COL], rows), "",
                  "Round 2, the same targets after one round trip to the device: round 1's bench as "
                  "`prune --latency-feedback` (factor = measured / predicted of the round-1 model nearest the target: "
                  + ", ".join(f"{t['fraction']:g}x {t['feedback_factor']:.3f}" for t in d["targets"]) +
                  f"). The uniform model beside each: {uniform_how}.", ""]
    else:
        lines += [f"The uniform model beside each: {uniform_how}.", ""]
    lines += [md_table(TARGET_COLS, target_rows(d)), ""]
    if d.get("round1"):
        lines += feedback_lines(d)
    return lines
