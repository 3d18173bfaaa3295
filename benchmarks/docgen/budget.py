"""Issue 24: the fine-tuning budget (benchmarks/budget.sh, benchmarks/results/budget/): pruned minus control and pruned
minus scratch twin against the fine-tuning epochs E, by recipe."""
from __future__ import annotations

from pathlib import Path

from edgeprune.paired_accuracy import compare

from .common import GOALS, RES, load, md_table, paired, pct
from .recovery import amount, control_of, label

LOW_RATE = 0.01  # a plateau twin's rate this far below its start has stopped it learning

RECIPES = {"plateau": "plateau (the parent's rate, halved on a stall)", "rewind": "rewind (the parent's rates replayed)"}


def _twin_of(r: dict, runs: dict) -> dict | None:
    """The scratch twin of r's cell at r's E and seed: r's own, or the one its plateau sibling trained."""
    if r.get("scratch"):
        return r["scratch"]
    o = r["options"]
    for s in runs.values():
        so = s["options"]
        if s.get("scratch") and s["method"] == r["method"] and amount(s) == amount(r) and \
                (so["epochs"], so["seed"]) == (o["epochs"], o["seed"]):
            return s["scratch"]
    return None


def _study_recipe(runs: dict) -> set[tuple]:
    """The (rate, patience) the study fine-tunes with: its controls'. A pruned run with others is a recipe of its own."""
    return {(c["options"]["lr"], c["options"]["patience"]) for c in runs.values() if c["method"] == "none"}


def _recipe(o: dict, study: set[tuple]) -> str:
    if (o["lr"], o["patience"]) in study:
        return o["lr_schedule"]
    return f"{o['lr_schedule']}, lr {o['lr']:g}, patience {o['patience']}"


def rows_of(runs: dict) -> list[dict]:
    """One row per pruned run: its cell, recipe, E and seed, and its paired differences."""
    out = []
    study = _study_recipe(runs)
    for name, r in runs.items():
        if r["method"] == "none":
            continue
        c, t = control_of(r, runs), _twin_of(r, runs)
        out.append({"name": name, "cell": label(r["method"], amount(r)), "key": (r["method"], amount(r)),
                    "recipe": _recipe(r["options"], study), "E": r["options"]["epochs"], "seed": r["options"]["seed"],
                    "epochs_run": r.get("epochs_run"), "best_epoch": r.get("best_epoch"), "options": r["options"],
                    "acc": r["test_accuracy"], "test_correct": r.get("test_correct"), "control": c, "twin": t,
                    "vs_control": compare(r.get("test_correct"), c.get("test_correct")) if c else None,
                    "vs_scratch": compare(r.get("test_correct"), t.get("test_correct")) if t else None})
    return sorted(out, key=lambda x: (x["key"], x["recipe"], x["E"], x["seed"]))


def _early(best, run) -> bool:
    """Whether the epoch whose weights a run kept (the best val_loss) came before its last one."""
    return isinstance(best, int) and isinstance(run, int) and 0 < best < run


def _kept(acc: float, best, run) -> str:
    """An accuracy, and the epoch whose weights gave it where that was not the last one run."""
    return pct(acc) + (f" (epoch {best})" if _early(best, run) else "")


def _twin(t: dict | None) -> str:
    """The twin's accuracy, its epochs, and which epoch's weights it kept (the best val_loss) where recorded."""
    if not t:
        return "-"
    best = t.get("best_epoch")
    kept = f", kept epoch {best}" if _early(best, t["epochs_run"]) else ""
    return f"{pct(t['test_accuracy'])} ({t['epochs_run']} epochs{kept}, {t.get('lr_schedule', 'plateau')})"


def _is_plateau(t: dict | None) -> bool:
    """A twin trained before twins got a cosine schedule (no schedule recorded means plateau)."""
    return bool(t) and t.get("lr_schedule", "plateau") == "plateau"


def _plateau_twins(rows: list[dict]) -> list[str]:
    """Twins trained before they got a cosine schedule halved their rate on every stall: when that rate fell below a
    hundredth of its start, where their history says."""
    seen, out = set(), []
    for r in rows:
        t = r["twin"]
        if not _is_plateau(t) or id(t) in seen:
            continue
        seen.add(id(t))
        lr = (t.get("history") or {}).get("lr") or []
        low = next((i + 1 for i, x in enumerate(lr) if x < lr[0] * LOW_RATE), None) if lr else None
        out.append(f"{r['cell']} E {r['E']}" + (f" (below {100 * LOW_RATE:g} % of its rate from epoch {low} of "
                                                f"{len(lr)})" if low else
                                                " (no history recorded)"))
    if not out:
        return []
    return ["Twins marked plateau halved their rate whenever val_loss stalled, with early stopping off: " + "; ".join(out)
            + ". Such a twin used only the start of its budget, so its vs scratch favours pruning. `prune --scratch` "
            "now decays the twin's rate by cosine over its whole budget; these cells are to be run again.", ""]


def _rewind_note(runs: dict) -> list[str]:
    """What rewind replays for this parent: a parent trained at one constant rate makes it a constant-rate recipe."""
    rates = {round(x, 12) for r in runs.values() if r["options"]["lr_schedule"] == "rewind"
             for x in (r.get("lr_rewind") or {}).get("rates", [])}
    if not rates:
        return []
    same = _same_as_plateau(runs)
    tail = (" Where plateau did not halve its rate before the epoch whose weights were kept (the best val_loss), the "
            "two recipes kept the same model and answered every test image alike: " + ", ".join(same) + "."
            if same else "")
    if len(rates) == 1:
        return [f"The parent trained at one constant rate ({rates.pop():g}), so rewind replays that constant: here it "
                "is plateau's start without plateau's halving, not the decaying schedule of Renda et al." + tail, ""]
    return [f"Rewind replays the parent's rates from {max(rates):g} down to {min(rates):g}." + tail, ""]


def _rates(r: dict) -> list:
    return (r.get("history") or {}).get("lr") or []


def _same_as_plateau(runs: dict) -> list[str]:
    """Rewind runs whose plateau sibling (same method, cut, E and seed) had the same per-epoch rates up to the epoch
    both kept, and the same answers on every test image."""
    out = []
    for name, r in runs.items():
        if r["options"]["lr_schedule"] != "rewind":
            continue
        for s in runs.values():
            o, so = r["options"], s["options"]
            if so["lr_schedule"] == "plateau" and s["method"] == r["method"] and amount(s) == amount(r) and \
                    (so["epochs"], so["seed"]) == (o["epochs"], o["seed"]) and \
                    s.get("best_epoch") == r.get("best_epoch") and isinstance(r.get("best_epoch"), int) and \
                    _rates(s)[:r["best_epoch"]] == _rates(r)[:r["best_epoch"]] and \
                    s.get("test_correct") == r.get("test_correct"):
                out.append(f"`{name}` and `{s['name']}`")
    return out


def _move_se(a: dict, b: dict) -> float:
    """The s.e. of (pruned - control at b's E) - (the same at a's E), paired over the test images all four answered."""
    import numpy as np

    from edgeprune.paired_accuracy import unpack

    bits = [unpack(x) for x in (b["test_correct"], b["control"]["test_correct"],
                                a["test_correct"], a["control"]["test_correct"])]
    per_image = (bits[0].astype(float) - bits[1]) - (bits[2].astype(float) - bits[3])
    return float(per_image.std(ddof=1) / np.sqrt(len(per_image)))


def _trend(rows: list[dict]) -> list[str]:
    """Per cell, recipe and seed measured at two E or more: the gap to the control at the smallest and largest E,
    how much it moved (s.e. of the two differences taken as independent), and where the scratch twin lands."""
    lines = {}
    for r in rows:
        if r["vs_control"] is not None:
            lines.setdefault((r["cell"], r["recipe"], r["seed"]), []).append(r)
    out = []
    for (cell, recipe, seed), rs in sorted(lines.items()):
        if len(rs) < 2:
            continue
        rs.sort(key=lambda r: r["E"])
        a, b = rs[0]["vs_control"], rs[-1]["vs_control"]
        move, se = b.diff - a.diff, _move_se(rs[0], rs[-1])
        steps = " → ".join(f"{100 * r['vs_control'].diff:+.2f} (E {r['E']})" for r in rs)
        verdict = ("moved up, toward the control or past it, by" if move > 1.96 * se else
                   "moved down by" if move < -1.96 * se else "did not move resolvably:")
        last_step = ""
        if len(rs) > 2:  # does the gap still shrink at the largest E? the last step alone
            p, q = rs[-2], rs[-1]
            last, lse = q["vs_control"].diff - p["vs_control"].diff, _move_se(p, q)
            last_step = (f"; from E {p['E']} to E {q['E']} it moved {100 * last:+.2f} ± {100 * lse:.2f}"
                         + (" (resolved)" if abs(last) > 1.96 * lse else " (not resolved: the gap stopped shrinking)"))
        s = rs[-1]["vs_scratch"]
        twin = "" if s is None else (
            f"; at E {rs[-1]['E']} it is {100 * s.diff:+.2f} ± {100 * s.se:.2f} against its scratch twin")
        out.append(f"- {cell}, {recipe}" + ("" if seed == 42 else f", seed {seed}") + f": {steps}; pruned minus "
                   f"control {verdict} {100 * abs(move):.2f} ± {100 * se:.2f} points{last_step}{twin}.")
    if not out:
        return []
    return ["How the gap to the control moves with E (the smallest and largest E measured; ± s.e., paired over the "
            "test images all four models answered):", ""] + out + [""]


def _int8_file(study, bundle: str):
    """The study bench's int8 file of a cell (the cell's architecture and, for weight pruning, its sparsity): its
    speed-up over dense int8 and dense int8's gzip size over its own; None where the study has no such bench row."""
    if study is None:
        return None
    sp, row, dense = study.speedup(bundle, "int8"), study.row(bundle, "int8"), study.row("dense", "int8")
    if sp is None or not row or not dense or not row.gzip_bytes or not dense.gzip_bytes:
        return None
    return sp, dense.gzip_bytes / row.gzip_bytes


def other_recipes(rows: list[dict]) -> list[str]:
    """Item 5: a recipe other than the study's (prune's shipped defaults, run by budget.sh) against the study's plateau
    recipe on the same cell, E, seed and parent, paired; and what prune's defaults are now."""
    import dataclasses

    from edgeprune.options.prune import PruneOptions

    now = {f.name: f.default for f in dataclasses.fields(PruneOptions)}
    out = []
    for r in rows:
        if r["recipe"] in RECIPES:
            continue
        mine = next((s for s in rows if (s["key"], s["E"], s["seed"], s["recipe"]) ==
                     (r["key"], r["E"], r["seed"], "plateau")), None)
        d = compare(mine["test_correct"], r["test_correct"]) if mine else None
        if d is None:
            continue
        so = mine["options"]
        stopped = (f", early stopping ended it at epoch {r['epochs_run']}" if r["epochs_run"] and
                   r["epochs_run"] < r["E"] else "")
        stop = "early stopping off" if so["patience"] == 0 else f"patience {so['patience']}"
        resolved = abs(d.diff) > 1.96 * d.se
        out.append(f"- {r['cell']}, E {r['E']}, seed {r['seed']}: {r['recipe']} scored {pct(r['acc'])} %{stopped}; "
                   f"the study's plateau (lr {so['lr']:g}, {stop}) scored {pct(mine['acc'])} %. The study's minus "
                   f"this one: {paired(d)}, "
                   + ("resolved (its 95 % interval leaves out zero)." if resolved else "not resolved."))
    if not out:
        return []
    return ["Other recipes against the study's (paired on the same test images):", ""] + out + [
        "", f"`prune`'s defaults are now lr {now['lr']:g}, patience {now['patience']}, {now['lr_schedule']}, "
        f"{now['epochs']} epochs.", ""]


def recommendation(rows: list[dict]) -> list[str]:
    """Item 5: per cell, prune and fine-tune, train the small model from scratch, or stay dense in int8, from its best
    variant against its control and its scratch twin, and from what its int8 file buys over dense int8 on this CPU
    (the study's bench: speed and size depend on the architecture, not on the weights)."""
    from .study import STUDY, Study

    study = Study() if (STUDY / "bench.json").is_file() else None
    out = []
    for key, goal in GOALS["recovery"].items():
        mine = [r for r in rows if r["key"] == key and r["vs_control"] is not None]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["vs_control"].diff)
        d, t = best["vs_control"], best["vs_scratch"]
        bundle = f"{key[0]}-{round(100 * key[1])}"
        f = _int8_file(study, bundle)
        cost = (f"{100 * d.diff:+.2f} ± {100 * d.se:.2f} points against the dense control ({best['recipe']}, E "
                f"{best['E']}; the goal {goal:+g}: {'met' if 100 * d.diff >= goal else 'not met'})")
        # the scratch question is asked of a twin that used its whole budget (cosine): the best variant's own where
        # it has one, else the best variant that has one
        fair = [r for r in mine if r["vs_scratch"] is not None and not _is_plateau(r["twin"])]
        by = best if best in fair or not fair else max(fair, key=lambda r: r["vs_control"].diff)
        t = by["vs_scratch"]
        if t is None:
            scratch, twin_wins, tie = "", False, False
        else:
            twin_wins, tie = t.diff + 1.96 * t.se < 0, abs(t.diff) <= 1.96 * t.se
            where = "" if by is best else f" at E {by['E']} ({by['recipe']}, the best variant whose twin used cosine)"
            scratch = (f", {100 * t.diff:+.2f} ± {100 * t.se:.2f} against its scratch twin{where}"
                       + (" (a plateau twin, which favours pruning: to be run again)" if _is_plateau(by["twin"])
                          else ""))
        buys = ""
        if f is not None:
            (sx, ci, faster), smaller = f
            buys = (f"; its int8 file runs {sx:.2f}x dense int8's speed [{ci[0]:.2f}-{ci[1]:.2f}]"
                    + ("" if faster else ", not resolved,") + f" and is {smaller:.1f}x smaller in gzip")
        if f is not None and not f[0][2]:
            verdict = ("stay dense in int8: pruning buys no resolved speed-up on this CPU, only size; where size is "
                       "the constraint, " + ("its scratch twin (the same zeros trained from random weights) beats "
                                             "pruning and fine-tuning" if twin_wins else "prune and fine-tune"))
        elif twin_wins:
            verdict = "train the small model from scratch: it beats pruning and fine-tuning"
        elif tie:
            verdict = "prune and fine-tune, or train the small model from scratch: they tie"
        else:
            verdict = "prune and fine-tune: it beats training the small model from scratch"
        out.append(f"- {label(*key)}: {verdict} (best: {cost}{scratch}{buys}).")
    if not out:
        return []
    return ["What to do, per cell (from its best variant so far; speed and size from the study's bench of the same "
            "architecture and sparsity, timed in interleaved rounds):", ""] + out + [""]


def plot(rows: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    keys = sorted({(r["cell"], r["seed"]) for r in rows})
    colour = {k: plt.cm.tab10(i % 10) for i, k in enumerate(keys)}  # one per cell and seed, the same in both panels
    for ax, what, title in ((axes[0], "vs_control", "pruned - control"), (axes[1], "vs_scratch", "pruned - scratch twin")):
        lines = {}
        for r in rows:
            if r[what] is not None:
                lines.setdefault((r["cell"], r["recipe"], r["seed"]), []).append((r["E"], r[what]))
        for (cell, recipe, seed), pts in sorted(lines.items()):
            pts.sort(key=lambda p: p[0])
            ax.errorbar([p[0] for p in pts], [100 * p[1].diff for p in pts],
                        yerr=[100 * 1.96 * p[1].se for p in pts], color=colour[(cell, seed)],
                        marker={"plateau": "o", "rewind": "s"}.get(recipe, "^"),
                        linestyle={"plateau": "-", "rewind": "--"}.get(recipe, ":"), capsize=3,
                        label=f"{cell}, {recipe}" + ("" if seed == 42 else f", seed {seed}"))
        ax.axhline(0, color="grey", linewidth=0.8)
        es = sorted({r["E"] for r in rows})
        if len(es) > 1:  # E = 3 ... 60 on a log axis; a single E needs none
            ax.set_xscale("log")
        ax.set_xticks(es)
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("fine-tuning epochs E")
        ax.set_ylabel("points (95 % interval)")
        ax.set_title(title)
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def budget_section(report_dir: Path | None) -> list[str] | None:
    folder = RES / "budget"
    runs = {p.stem: load(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    rows = rows_of(runs)
    if not rows:
        return None
    if report_dir is not None:  # only when writing: the plot is a file, not text the check compares
        plot(rows, report_dir / "budget.png")
    done = sorted({r["E"] for r in rows})
    out = ["## The fine-tuning budget (issue 24)", "",
           "Command: `bash benchmarks/budget.sh` (each run's summary in `benchmarks/results/budget/`). The study CNN at "
           + "/".join(str(s) for s in sorted({r["image_size"] for r in runs.values()})) + " px, pruned and fine-tuned E epochs at the parent's rate with early stopping off, by two recipes: "
           + "; ".join(RECIPES.values()) + ". Each recipe and E has its control (the dense model fine-tuned "
           "alike, same seed); each cell and E has a scratch twin (its pruned structure from random weights at the "
           "lineage's compute, Scratch-B; a weight-pruned model's twin keeps its zeros). Differences are paired on "
           "the same test images (points ± s.e., McNemar p). Every run keeps the weights of its epoch with the "
           "best val_loss; the table names that epoch where it was not the last. E measured so far: "
           + ", ".join(map(str, done)) + "."
           + ("" if all(r["recipe"] in RECIPES for r in rows) else " A row with another recipe (its rate and "
              "patience named) has no control of its own: it is compared with the study's recipe below."),
           "", "![fine-tuning budget](benchmarks/results/report/budget.png)", ""]
    table = []
    for r in rows:
        c, t = r["control"], r["twin"]
        table.append([r["cell"], r["recipe"], r["E"], r["seed"], _kept(r["acc"], r["best_epoch"], r["epochs_run"]),
                      _kept(c["test_accuracy"], c.get("best_epoch"), c.get("epochs_run")) if c else "-",
                      paired(r["vs_control"]), _twin(t), paired(r["vs_scratch"])])
    out += [md_table(["cell", "recipe", "E", "seed", "test %", "control %", "vs control", "scratch twin %",
                      "vs scratch"], table), ""]
    out += _plateau_twins(rows)
    out += _rewind_note(runs)
    out += _trend(rows)
    out += other_recipes(rows)
    out += recommendation(rows)
    goals = GOALS["recovery"]
    out += ["Goals (issue 24; each cell's best variant against its own control, paired):", ""]
    for key, goal in goals.items():
        mine = [r for r in rows if r["key"] == key and r["vs_control"] is not None]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["vs_control"].diff)
        d = best["vs_control"]
        out.append(f"- {label(*key)}: best {100 * d.diff:+.2f} ± {100 * d.se:.2f} ({best['recipe']}, E "
                   f"{best['E']}, seed {best['seed']}) against the goal {goal:+g}: "
                   f"{'met' if 100 * d.diff >= goal else 'not met'}." + _best_dense(mine, best))
    return out + [""]


def _best_dense(mine: list[dict], best: dict) -> str:
    """A goal is met against the control of the same E; a short control may not have finished learning. Where a
    longer control scored more, say how the cell's most accurate run stands against the most accurate control."""
    controls = {id(r["control"]): r["control"] for r in mine if r["control"]}
    top_c = max(controls.values(), key=lambda c: c["test_accuracy"])
    if top_c is best["control"]:
        return ""
    top = max(mine, key=lambda r: r["acc"])
    d = compare(top["test_correct"], top_c["test_correct"])
    if d is None:
        return ""
    return (f" Its control scored {pct(best['control']['test_accuracy'])} %, the dense model fine-tuned "
            f"{top_c['options']['epochs']} epochs {pct(top_c['test_accuracy'])} %: against that, the cell's most "
            f"accurate run ({pct(top['acc'])} %, E {top['E']}) is {100 * d.diff:+.2f} ± {100 * d.se:.2f}.")
