"""Filter pruning of graphs, speed and accuracy (issue 23; benchmarks/graph_prune.sh and graph_prune.py)."""
from __future__ import annotations

from .common import GOALS, RES, load, machine, md_table, ms_ci, paired, pct


def _speed(f: dict) -> str:
    ci = f.get("speedup_ci")
    return f"{f['speedup']:.2f}x" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")


def _p50(f: dict) -> str:
    return ms_ci(f.get("p50_ms"), f.get("p50_ci"))


def _meets(f: dict, goal: float) -> str:
    """'met' when the whole interval is at or above the goal; a median above it with an interval reaching below is
    not resolved."""
    low = (f.get("speedup_ci") or [f["speedup"]])[0]
    if low >= goal:
        return "met"
    return "not resolved (the median is above it, the interval reaches below)" if f["speedup"] >= goal else "not met"


def graph_prune_section() -> list[str] | None:
    f = RES / "graph_prune" / "summary.json"
    if not f.is_file():
        return None
    d = load(f)
    speed_goal, acc_goal, anchor = GOALS["graph_speedup"], GOALS["graph_vs_control"], GOALS["torch_pruning_anchor"]
    out = ["## Filter pruning of graphs: speed and accuracy (issue 23)", "",
           f"Command: `{d['command']}` (results in `benchmarks/results/graph_prune/summary.json`). Each model is "
           "trained on cifar10-animals, then pruned through its channel graph: one uniform ratio over every group, "
           "and by `--target-ms` from the table the graph latency section measured, with either allocation: one ratio "
           "for every group, the smallest the table predicts within the target (the default), and per-group widths "
           "by L1 importance lost per millisecond saved (`--scope global`; the only allocation of `--target-ms` "
           "before this section's uniform rows were made). All are fine-tuned alike, and their control is the dense "
           "model fine-tuned the same way, paired on the same test images; a row fine-tuned "
           "longer has its own control, fine-tuned as long. Each model's files, dense and pruned, fp32 and int8, "
           "were benched in one call, interleaved rounds; a speed-up is the dense file's p50 over the pruned "
           "file's of the same format, round by round, with its 95 % interval, beside the MACs reduction.", ""]
    goals, near = [], []  # near: rows cut to another ratio, the anchor's MACs reduction
    for m in d["models"]:
        ctl = m["control"]
        out += [f"### {m['title']} ({m['arch']})", "",
                f"Dense: {m['params']:,} parameters, {m['macs']:,} MACs, trained {m['epochs']} epochs "
                f"in {m['train_seconds']:.0f} s, test {pct(m['test_accuracy'])} %; control "
                f"(fine-tuned {ctl['epochs_run']} epochs) {pct(ctl['test_accuracy'])} %. Bench: "
                f"{machine(m['device'])}, {m['threads']} threads, {m['runtime']['name']} {m['runtime']['version']}, "
                f"{m['rounds']} rounds; dense p50 fp32 {_p50(m['dense_files']['fp32'])} ms, int8 "
                f"{_p50(m['dense_files']['int8'])} ms.", ""]
        rows = []
        for p in m["pruned"]:
            vs = p["vs_control"]
            what = p["what"]
            if p.get("own_control"):
                what += f" (its own control, fine-tuned alike: {pct(p['control_test_accuracy'])} %)"
            rows.append([what, f"{p['groups_cut']} of {p['groups']} ({p['groups_multi_layer']} tie layers)",
                         f"{p['params']:,}", f"{1 / p['macs_ratio']:.2f}x", pct(p["test_accuracy"]),
                         paired(vs),
                         _p50(p["files"]["fp32"]), _speed(p["files"]["fp32"]),
                         _p50(p["files"]["int8"]), _speed(p["files"]["int8"])])
            if p.get("ratio") not in (None, 0.5):  # the goals are the issue's cuts': ratio 0.5 and --target-ms 0.5x
                near.append((m, p))
                continue
            for fmt in ("fp32", "int8"):
                goals.append(f"- {m['name']}, {p['what']}, {fmt}: measured speed-up {_speed(p['files'][fmt])} "
                             f"against the goal {speed_goal[fmt]:g}x: {_meets(p['files'][fmt], speed_goal[fmt])}.")
            if vs:
                goal = acc_goal[m["name"]]
                goals.append(f"- {m['name']}, {p['what']}: pruned minus control {100 * vs['diff']:+.2f} ± "
                             f"{100 * vs['se']:.2f} points against the goal {goal:+g}: "
                             f"{'met' if 100 * vs['diff'] >= goal else 'not met'}.")
        for p in m["pruned"]:
            if p.get("target_ms") and p.get("dense_predicted_ms"):
                fp = p["files"]["fp32"]
                dense_ratio = p["dense_predicted_ms"] / m["dense_files"]["fp32"]["p50_ms"]
                out += [f"`{p['what']}` asked the table for {p['target_ms']:.3f} ms, a fraction of its prediction "
                        f"for the dense model ({p['dense_predicted_ms']:.3f} ms), and got widths it predicts at "
                        f"{p['predicted_ms']:.3f} ms. Measured, they ran {fp['p50_ms']:.3f} ms and the dense model "
                        f"{m['dense_files']['fp32']['p50_ms']:.3f} ms: the table's dense prediction is "
                        f"{dense_ratio:.2f}x the measured time"
                        + (", so a fraction of it is not the same fraction of the measured dense latency."
                           if abs(dense_ratio - 1) > GOALS["equal_latency"] else "."), ""]
        out += [md_table(["pruned", "groups cut", "params", "fewer MACs", "test acc %", "vs control (points ± s.e.)",
                          "fp32 p50 ms", "fp32 speed-up", "int8 p50 ms", "int8 speed-up"], rows), ""]
        if m.get("uniform_vs_greedy"):
            out += [f"The two allocations of the `--target-ms` budget, paired with each other on the same test images "
                    f"(points ± s.e.): one ratio minus `--scope global`, {paired(m['uniform_vs_greedy'])}.", ""]
    ft = sorted({p["epochs_run"] for m in d["models"] for p in m["pruned"]})
    out += ["Goals (issue 23):", "", *goals, "",
            f"Anchor: Torch-Pruning reports ResNet-56 on CIFAR-10 at {anchor['points']:+g} points for "
            f"{anchor['macs_x']:g}x fewer MACs after {anchor['epochs']} fine-tuning epochs; the runs above fine-tuned "
            + ", ".join(map(str, ft)) + " epochs."]
    for m, p in near:
        vs = p["vs_control"]
        out[-1] += (f" {m['title']} at ratio {p['ratio']:g} ({1 / p['macs_ratio']:.2f}x fewer MACs), "
                    f"{p['epochs_run']} epochs: pruned minus its own control {paired(vs)}, fp32 speed-up "
                    f"{_speed(p['files']['fp32'])}.")
    return out + [""]
