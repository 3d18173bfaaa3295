"""Issue 24, item 4: allocation at equal latency (benchmarks/allocation.sh, benchmarks/results/allocation/)."""
from __future__ import annotations

from .common import RES, load, machine, md_table, ms_ci, paired, pct
from .recovery import amount, label

HOW = {"uniform": "the same `--ratio` in every layer (the budget study's cell)",
       "global": "`--scope global`",
       "budget": "`--target-ms` (widths by L1 importance on the table)",
       "sensitivity": "`--target-ms` with `--sensitivity` (widths by per-layer accuracy drop)"}


def _how(kind: str, option: dict | None) -> str:
    """What the allocation is, and the option value whose widths were measured nearest uniform's latency."""
    if not option:
        return HOW.get(kind, kind)
    value = f"--ratio {option['ratio']:.3f}" if "ratio" in option else f"--target-ms {option['target_ms']:.4f}"
    return f"{HOW.get(kind, kind)}, `{value}`"


def _x(v: float, ci: list | None) -> str:
    return f"{v:.2f}x" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")


def resolved(d: dict | None) -> bool:
    """A paired difference whose 95 % interval leaves zero out."""
    return bool(d) and abs(d["diff"]) > 1.96 * d["se"]


def _params_note(rows: dict) -> str:
    """Parameters kept are not what decides it: the allocations that kept the most lost to uniform too."""
    u = rows["uniform"]["run"]["params"]
    more = [k for k, r in rows.items() if k != "uniform" and r["run"]["params"] > u]
    if not more:
        return ""
    return ("Keeping more parameters at the same latency did not help: " + ", ".join(
        f"{k} kept {rows[k]['run']['params'] / u:.1f}x uniform's" for k in more) + " and still lost.")


def allocation_section() -> list[str] | None:
    path = RES / "allocation" / "summary.json"
    if not path.is_file():
        return None
    s = load(path)
    rows = s["rows"]
    u = rows["uniform"]["run"]
    cell = label(u["method"], amount(u))
    out = ["## Allocation at equal latency (issue 24)", "",
           f"Command: `bash benchmarks/allocation.sh` (`benchmarks/results/allocation/summary.json`). The study CNN at "
           f"{u['image_size']} px, pruned four ways to the latency {cell} measures, each fine-tuned "
           f"{s['epochs']} epochs alike (plateau at the parent's rate, early stopping off, seed "
           f"{u['options']['seed']}). Equal latency is measured, not predicted: per allocation, candidate widths "
           f"(global ratios; `--target-ms` values around the table's {s['target_ms']:.3f} ms for {cell}, table "
           "`benchmarks/results/allocation/table.json`: "
           f"{s['table']}) were made as untrained fp32 files and timed beside {cell}'s widths, and the one measured "
           "nearest was pruned and fine-tuned. The fp32 files of all four and of the dense model were timed side by side in "
           f"one call ({s['bench']['rounds']} rounds, {machine(s['bench']['device'])}); latency vs uniform and "
           "speed-up are medians of per-round ratios with their 95 % intervals. Accuracy differences are paired on "
           "the same test images (points ± s.e., McNemar p) against uniform and against the control, the dense "
           f"model fine-tuned alike ({pct(s['control']['test_accuracy'])} %).", ""]
    table = []
    for kind, r in rows.items():
        run = r["run"]
        table.append([kind, _how(kind, r.get("option")), f"{run['params']:,}", f"{run['macs'] / 1e6:.1f} M",
                      ms_ci(r["p50"], r["p50_ci"]), _x(r["over_uniform"], r["over_uniform_ci"]) if kind != "uniform" else "-",
                      _x(r["speedup"], r["speedup_ci"]), pct(run["test_accuracy"]), paired(r["vs_uniform"]),
                      paired(r["vs_control"])])
    out += [md_table(["allocation", "how", "params", "MACs", "fp32 p50 ms", "latency vs uniform",
                      "speed-up vs dense", "test %", "vs uniform", "vs control"], table), ""]
    others = {k: r for k, r in rows.items() if k != "uniform" and r["vs_uniform"]}
    if others:
        best = max(others, key=lambda k: others[k]["vs_uniform"]["diff"])
        d = others[best]["vs_uniform"]
        ci = others[best].get("over_uniform_ci")
        slower = bool(ci) and ci[0] > 1  # its measured latency's interval lies above uniform's
        if resolved(d) and d["diff"] > 0 and slower:
            verdict = (f"{best} scores {100 * d['diff']:+.2f} ± {100 * d['se']:.2f} points over uniform, but at "
                       f"{others[best]['over_uniform']:.2f}x [{ci[0]:.2f}-{ci[1]:.2f}] its measured latency, "
                       "slower: the comparison is not resolved at equal latency.")
        elif resolved(d) and d["diff"] > 0:
            verdict = (f"{best} beats uniform by {100 * d['diff']:+.2f} ± {100 * d['se']:.2f} points at "
                       f"{others[best]['over_uniform']:.2f}x its measured latency: uniform is not the best allocation "
                       "here.")
        elif all(resolved(r["vs_uniform"]) and r["vs_uniform"]["diff"] < 0 for r in others.values()):
            lo, hi = (f(r["over_uniform"] for r in others.values()) for f in (min, max))
            faster = [k for k, r in others.items() if (r.get("over_uniform_ci") or [1, 1])[1] < 1]
            verdict = (f"Uniform beats every other allocation by more than its interval after {s['epochs']} epochs, "
                       f"the others measured at {lo:.2f}x to {hi:.2f}x its latency (the closest in accuracy: {best}, "
                       f"{100 * d['diff']:+.2f} ± {100 * d['se']:.2f})"
                       + (f"; {' and '.join(faster)} measured faster than uniform (their intervals lie below its latency), so "
                          + ("those comparisons are" if len(faster) > 1 else "that comparison is")
                          + " not quite at equal latency: uniform had the larger budget" if faster else "")
                       + ". For this model, spend the latency evenly. "
                       + _params_note(rows))
        else:
            verdict = ("No allocation beats uniform by more than its interval after "
                       f"{s['epochs']} epochs (best: {best}, {100 * d['diff']:+.2f} ± {100 * d['se']:.2f}): uniform "
                       "is not the wrong allocation for this model.")
        out += [verdict, ""]
    return out
