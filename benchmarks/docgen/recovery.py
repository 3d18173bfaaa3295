"""Issue 14: what wins back the accuracy pruning costs (benchmarks/recovery.sh, benchmarks/results/recovery/)."""
from __future__ import annotations

from edgeprune.paired_accuracy import compare, unpack

from .common import GOALS, RES, load, md_table, p_value, pct


def recipe(o: dict) -> str:
    parts = [o["lr_schedule"]]
    if o.get("steps", 1) > 1:
        parts.append(f"{o['steps']} cuts")
    if o.get("distill"):
        who = "control" if o.get("teacher") else "parent"
        parts.append(f"distilled from the {who} (α {o['distill_alpha']:g}, T {o['temperature']:g})")
    return ", ".join(parts)


def amount(r: dict) -> float | None:
    """The sparsity or filter ratio a run was pruned to; None for a control."""
    return {"weight": r["options"].get("sparsity"), "filter": r["options"].get("ratio")}.get(r["method"])


def label(method: str, v: float) -> str:
    return f"{method} {round(100 * v)} %"


def target(r: dict) -> str:
    v = amount(r)
    return "control (unpruned)" if v is None else label(r["method"], v)


def plain_twin(r: dict, runs: dict) -> dict | None:
    """The run with r's options but no teacher (options a run's edgeprune did not have yet are not compared)."""
    skip = {"distill", "distill_alpha", "temperature", "teacher"}
    for o in runs.values():
        shared = (set(r["options"]) & set(o["options"])) - skip
        if not o["options"].get("distill") and all(r["options"][k] == o["options"][k] for k in shared):
            return o
    return None


def control_of(r: dict, runs: dict) -> dict | None:
    o = r["options"]
    for c in runs.values():
        co = c["options"]
        if c["method"] == "none" and (co["lr_schedule"], co["seed"], co["epochs"], co["lr"]) == \
                (o["lr_schedule"], o["seed"], o["epochs"], o["lr"]):
            return c
    return None


CUT_KEYS = ("sparsity", "ratio", "criterion", "scope", "round_to", "skip_first", "skip_last", "layers")


def scratch_twin(r: dict, parent_epochs: int | None) -> dict | None:
    """The budget study's scratch twin at r's cut and E (benchmarks/results/budget/), where it is r's own: the same cut
    (options, parameters, MACs), split and test images, and a lineage of the same compute (the parent's training epochs
    at the parent's MACs, plus the epochs r ran at r's MACs). A filter cut's twin owes nothing to its parent's weights,
    so a twin trained beside another parent of the same recipe and epochs is r's twin too; a weight cut's twin keeps
    the zeros its own parent's magnitudes chose (same sparsity and rule, other positions). What the check does not see
    is said in the section: gradual cuts and distillation spend more compute than the plain cut."""
    v = amount(r)
    if v is None or not parent_epochs:
        return None
    b = RES / "budget" / f"{r['method'][0]}{round(100 * v)}-plateau-e{r['epochs_run']}.json"
    if not b.is_file():
        return None
    b = load(b)
    s = b.get("scratch")
    lineage = parent_epochs * r["macs_before"] + r["epochs_run"] * r["macs"]
    keys = ("method", "macs", "params", "split_hash", "image_size")
    same = all(b[k] == r[k] for k in keys) and all(b["options"].get(k) == r["options"].get(k) for k in CUT_KEYS)
    if not s or not s.get("test_correct") or not same or s["lineage_macs"] != lineage:
        return None
    return {"name": b["name"], **s}


def recovery_section() -> list[str] | None:
    folder = RES / "recovery"
    if not folder.is_dir():
        return None
    order = {"none": 0, "weight": 1, "filter": 2}
    runs = {p.stem: load(p) for p in sorted(folder.glob("*.json"))}
    runs = dict(sorted(runs.items(), key=lambda kv: (order.get(kv[1]["method"], 9), target(kv[1]), kv[0])))
    if not runs:
        return None
    any_run = next(iter(runs.values()))
    epochs, lr = any_run["options"]["epochs"], any_run["options"]["lr"]
    parent = any_run["parent"]
    base = RES / "study" / "baseline.json"  # the study's parent: its epochs give the twins' compute
    base = load(base) if base.is_file() else None
    parent_epochs = base["epochs_run"] if base and (base["name"], base["test_accuracy"]) == \
        (parent["name"], parent["test_accuracy"]) else None
    rows, best, twins = [], {}, {}
    for name, r in runs.items():
        c = control_of(r, runs)
        vs = compare(r["test_correct"], c["test_correct"]) if c and c is not r else None
        twin = plain_twin(r, runs) if r["options"].get("distill") else None
        rec = compare(r["test_correct"], twin["test_correct"]) if twin else None
        tw = scratch_twin(r, parent_epochs)
        vs_s = compare(r["test_correct"], tw["test_correct"]) if tw else None
        if tw:
            twins[tw["name"]] = tw
        rows.append([name, target(r), recipe(r["options"]), f"{r['params']:,}", pct(r["test_accuracy"]),
                     vs.points() if vs else "-", p_value(vs.mcnemar_p) if vs else "-", rec.points() if rec else "-",
                     vs_s.points() if vs_s else "-"])
        if vs and r["method"] != "none":
            key = (r["method"], amount(r))
            if key not in best or vs.diff > best[key][1].diff:
                best[key] = (name, vs)
    lines = ["## Recovery: what wins back the accuracy pruning costs (issue 14)", "",
             f"`bash benchmarks/recovery.sh` on ../shared/data/cifar10-animals at {any_run['image_size']} px: the study CNN "
             f"`{parent['name']}` ({parent['params']:,} parameters, test {pct(parent['test_accuracy'])} %), pruned and "
             f"fine-tuned for E = {epochs} epochs at {lr:g} (AdamW, light augmentation); each control is the unpruned "
             f"model fine-tuned the same E epochs with the same schedule and no teacher. The differences are paired, "
             f"on the same {len(unpack(any_run['test_correct'])):,} test images: ± one standard error, and McNemar's "
             "exact p for the images only one of the two got right. Figures from `benchmarks/results/recovery/` "
             "(one summary per run, written by `benchmarks/summarize_run.py`).", "",
             md_table(["run", "model", "recipe", "params", "test acc %", "vs its control (points ± s.e.)",
                       "McNemar p", "recovery: distilled − plain (points ± s.e.)", "vs scratch twin (points ± s.e.)"],
                      rows), ""]
    if twins:
        lines += ["Scratch twins (Liu et al.'s Scratch-B: the cut's structure from random weights, trained for the "
                  "compute its lineage spent, early stopping off) come from the fine-tuning budget study's cells of "
                  "the same cut and E (next section), trained on the same split beside a parent of the same recipe "
                  f"and {parent_epochs} epochs: "
                  + "; ".join(f"`{n}`'s twin: {t['epochs_run']} epochs, {t.get('lr_schedule', 'plateau')} at "
                              f"{t['lr']:g}, test {pct(t['test_accuracy'])} %" for n, t in sorted(twins.items()))
                  + ". A filter cut's twin owes nothing to its parent's weights; a weight cut's twin keeps the zeros "
                  "its own parent's magnitudes chose (the same sparsity and rule, other positions). The twin gets the "
                  "plain cut's compute: the rows with gradual cuts trained wider models for part of their epochs, and "
                  "the distilled rows ran a teacher on every batch (those taught by the control also needed the "
                  "control's fine-tuning), so each of them spent more compute than its twin had. A cell shows - where "
                  "its budget cell has not run or is not its twin.", ""]
        if any(t.get("lr_schedule", "plateau") == "plateau" for t in twins.values()):
            lines += ["A twin trained with plateau halved its rate on every stall and used only the start of its "
                      "budget: its vs scratch favours pruning.", ""]
    seeds = [r for r in runs.values() if r["method"] == "none" and r["options"]["lr_schedule"] == "cosine"]
    if len(seeds) >= 2:
        a, b = seeds[0], seeds[1]
        d = compare(a["test_correct"], b["test_correct"])
        lines += [f"Training noise: the cosine control with seeds {a['options']['seed']} and {b['options']['seed']} "
                  f"differs by {d.points()} points (paired s.e. from the test images). A difference between two recipes "
                  "smaller than that seed-to-seed gap is not resolved by one seed each.", ""]
    cost = RES / "teacher_cost.json"
    if cost.is_file():
        c = load(cost)
        m = c["median_seconds"]
        lines += [f"The teacher's cost (`benchmarks/teacher_cost.py`, `benchmarks/results/teacher_cost.json`: the filter-50 "
                  f"student on {c['train_images']:,} training images, the epochs after a fit's first (which traces the step), "
                  f"median of {c['rounds']} "
                  f"interleaved rounds): a plain epoch took {m['plain']:.2f} s, a distilled one {m['distilled']:.2f} s "
                  f"(x{c['on_the_fly_over_plain']:.2f}, the teacher running on every augmented batch), and caching "
                  f"the teacher's outputs once per epoch would cost a forward pass of {m['teacher_forward']:.2f} s on "
                  f"top of a plain epoch (x{c['cached_over_plain']:.2f}), and teach from un-augmented images. "
                  "`--distill` therefore computes them on the fly.", ""]
    lines += ["Against the issue's goals (the best variant of each, its difference from its own control):", ""]
    for key, goal in GOALS["recovery"].items():
        if key in best:
            name, vs = best[key]
            verdict = "met" if vs.diff * 100 >= goal else "not met"
            lines.append(f"- {label(*key)}: goal ≥ control {goal:+.1f} points; best `{name}` {vs.points()}: {verdict}.")
    return lines + [""]
