"""Issue 13: prune to a latency budget (benchmarks/latency_budget.sh, benchmarks/results/latency/).

benchmarks/results/latency/ holds the run with `latency measure --passes`; single_pass/ the earlier one (one pass of
100 runs per file), kept because it shows why the passes are there."""
from __future__ import annotations

from pathlib import Path

from .common import RES, load, md_table, pct

LAT = RES / "latency"
OLD = LAT / "single_pass"


def ms(v: float) -> str:
    return f"{v:.3f}"


def ci(c) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "-"


def check_rows(d: dict) -> list[list]:
    rows = []
    for fmt, c in d["check"].items():
        errs = [abs(r["predicted"] - r["measured"]) / r["measured"] for r in c["rows"]]
        rows.append([fmt, len(c["rows"]), f"{100 * c['median_abs_error']:.1f} %", f"{100 * max(errs):.1f} %",
                     f"{c['a']:.4f} + {c['b']:.3f} x sum", "met" if c["median_abs_error"] <= 0.10 else "not met"])
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
                     "met" if t["measured_over_target"] <= 1.05 else "not met",
                     f"{t['uniform_ratio']:g}", f"{ms(t['uniform_p50'])} {ci(t['uniform_ci'])}",
                     f"{t['uniform_over_budget']:.3f}" + (f" {ci(u_ci)}" if u_ci else ""),
                     "yes" if abs(t["uniform_over_budget"] - 1) <= 0.05 else "no",
                     f"{t['budget_params']:,} / {t['uniform_params']:,}",
                     f"{pct(t['budget_test'])} / {pct(t['uniform_test'])}",
                     f"{100 * diff['diff']:+.2f} ± {100 * diff['se']:.2f}" if diff else "-",
                     verdict(diff)])
    return rows


TARGET_COLS = ["target", "target ms", "predicted ms", "measured p50 ms [95 % CI]", "measured / target",
               "goal ≤ 1.05", "uniform ratio", "uniform p50 ms [95 % CI]", "uniform / budget", "equal within 5 %",
               "params budget / uniform", "test % budget / uniform", "budget − uniform (points ± paired s.e.)",
               "budget model"]


def _row_ms(table: Path, file: str) -> float:
    return next(r["p50_ms"] for r in load(table)["rows"] if r["file"] == file)


def _uniform_fit_error(table: Path, fmt: str) -> float:
    """The table's validation error with the overhead fitted on the uniform models alone (the first four fits)."""
    import numpy as np

    from edgeprune.latency_model import LatencyModel
    from edgeprune.readers import read_latency_table

    m = LatencyModel(read_latency_table(table), fmt)
    uniform = [v for v in m.variants if v.role == "fit"][:4]
    b, a = np.polyfit([m.raw(v.widths) for v in uniform], [v.measured for v in uniform], 1)
    errs = [abs(a + b * m.raw(v.widths) - v.measured) / v.measured for v in m.variants if v.role == "validate"]
    return float(np.median(errs))


def probed(d: dict) -> str:
    p = d.get("probe")
    if not p:  # the single-pass run: four uniform models fitted the overhead
        return "`--formats fp32,int8 --round-to 8 --points 5 --variants 12`"
    return (f"`--formats {','.join(p['formats'])} --round-to {p['round_to']} --points 5 --variants {p['validate']} "
            f"--fit-variants {p['fit'] - 4}`: 4 uniform and {p['fit'] - 4} random whole models to fit the overhead, "
            f"{p['validate']} others to validate")


def latency_section() -> list[str] | None:
    f = LAT / "summary.json" if (LAT / "summary.json").is_file() else OLD / "summary.json"
    if not f.is_file():
        return None
    d = load(f)
    passes = d.get("passes", 1)
    lines = ["## Prune to a latency budget (issue 13)", "",
             f"`bash benchmarks/latency_budget.sh`: the study CNN at 64 px (`{d['run']}`, {d['run_params']:,} "
             f"parameters, test {pct(d['run_test'])} %) on ../shared/data/cifar10-animals, probed ({probed(d)}), "
             "the probe measured on this machine as the device "
             f"({d['table']}; " + (f"`latency measure` at its defaults, {passes} passes per file" if passes > 1 else
                                   "one pass of 100 runs per file, before `latency measure --passes`") + "), then pruned to targets "
             f"and fine-tuned {d['epochs']} epochs at {d['lr']:g}. Figures from `{f.parent.relative_to(RES.parent.parent)}/` "
             "(the table, its check and summary.json).", "",
             "**Prediction**, on the whole models at random per-layer widths that were not used to fit the overhead:", "",
             md_table(["format", "variants", "median abs error", "largest", "fit (ms)", "goal ≤ 10 %"], check_rows(d)),
             ""]
    dn = d["dense"]
    uniform_how = ("the uniform filter ratio whose file measured closest to the budget model's, among candidates "
                   "timed beside it (`summary.json`, `candidates`), then fine-tuned the same way" if "candidates" in d
                   else "the uniform filter ratio with the same predicted latency")
    lines += [f"**Targets** (fp32, {d['threads']} threads): the dense model is predicted at {ms(dn['predicted_ms'])} ms "
              f"and measured at {ms(dn['measured_p50'])} ms (95 % interval {ci(dn['ci'])}; {d['bench']['rounds']} "
              "interleaved rounds of `edgeprune bench`).", ""]
    if d.get("round1"):
        rows = [[f"{r['fraction']:g}x", ms(r["target_ms"]), ms(r["predicted_ms"]), f"{ms(r['p50'])} {ci(r['ci'])}",
                 f"{r['measured_over_target']:.3f}", "met" if r["measured_over_target"] <= 1.05 else "not met"]
                for r in d["round1"]]
        lines += ["Round 1, the table alone (`prune --target-ms`):", "",
                  md_table(["target", "target ms", "predicted ms", "measured p50 ms [95 % CI]", "measured / target",
                            "goal ≤ 1.05"], rows), "",
                  "Round 2, the same targets after one round trip to the device: round 1's bench as "
                  "`prune --latency-feedback` (factor = measured / predicted of the round-1 model nearest the target: "
                  + ", ".join(f"{t['fraction']:g}x {t['feedback_factor']:.3f}" for t in d["targets"]) +
                  f"). The uniform model beside each: {uniform_how}.", ""]
    else:
        lines += [f"The uniform model beside each: {uniform_how}.", ""]
    lines += [md_table(TARGET_COLS, target_rows(d)), ""]
    if d.get("round1"):
        lines += ["Both rounds meet the targets. Round 2's models measured " + ", ".join(
            f"{t['budget_p50'] / t['table_predicted_ms']:.3f}" for t in d["targets"]) + " times their table's own "
            "prediction, so the factor measured on round 1's models over-corrected: near 1.04, it is within what "
            "one step of 8 channels moves and what the table misses on one model. The feedback is for a table that "
            "is off by more than that (as the single-pass one below was).", ""]
    if f.parent == LAT and (OLD / "summary.json").is_file():
        old = load(OLD / "summary.json")
        errs = ", ".join(f"{fmt} {100 * c['median_abs_error']:.1f} %" for fmt, c in old["check"].items())
        over = ", ".join(f"{t['fraction']:g}x {t['measured_over_target']:.2f}" for t in old["targets"])
        lines += [f"**Before the passes** (`benchmarks/results/latency/single_pass/`): the earlier probe measured in one "
                  f"pass of 100 runs per file predicted with median errors {errs}, and the chosen models measured "
                  f"{over} times their targets."]
        rep = OLD / "repeats.json"
        if rep.is_file():
            reps = load(rep)["passes"]
            lines[-1] += (f" Measured {len(reps)} more times, that single-pass table predicted the widths chosen at "
                          "0.5x at " + ", ".join(ms(q["fp32"]["predicted"]["0.5x"]) for q in reps) + " ms: one pass "
                          "moved that much on this shared machine, and the greedy search picks the widths where the "
                          "table it was given runs low, so its own prediction was biased low.")
        conv1 = "seg-00-3-32.int8.tflite"  # the first layer at full width, int8
        t_old, t_new = _row_ms(OLD / "table.json", conv1), _row_ms(LAT / "table.json", conv1)
        uniform_only = _uniform_fit_error(LAT / "table.json", "int8")
        lines[-1] += (" Three things changed since: each file is timed for a minimum time, past the slow start of a "
                      "freshly loaded model, in passes of their own shuffled order; int8 segments no longer time a "
                      "uint8 requantization after the first layer that the whole model never runs (conv1 alone, "
                      f"`{conv1}`: {ms(t_old)} ms in the single-pass table, {ms(t_new)} ms now); and whole models at "
                      "random widths join the uniform ones in the fit (refitted on the uniform ones alone, this "
                      f"table predicts int8 within {100 * uniform_only:.1f} %).")
        lines.append("")
    small = RES / "latency32" / "table.json"
    if small.is_file():
        from edgeprune.latency_model import LatencyModel, median_abs_error
        from edgeprune.readers import read_latency_table

        t32 = read_latency_table(small)
        fp, i8 = LatencyModel(t32, "fp32"), LatencyModel(t32, "int8")
        dense32 = next(v.measured for v in fp.variants if v.role == "fit" and v.widths == fp.widths)
        lines += [f"Why 64 px: at 32 px the dense fp32 model runs in {ms(dense32)} ms here, close to the per-invoke "
                  "overhead that each segment's file pays again; the 32 px table (`benchmarks/results/latency32/`, "
                  f"one pass) predicted fp32 within {100 * median_abs_error(fp.check()):.1f} % but int8 only within "
                  f"{100 * median_abs_error(i8.check()):.1f} % (median absolute error).", ""]
    return lines
