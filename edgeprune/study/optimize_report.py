"""report.md of `edgeprune optimize` (no TensorFlow): the budget, every candidate with its prediction and its
measurement, the pick and why each other lost, and the accuracy-latency Pareto plot (only when matplotlib is
installed) marking the budget and the pick."""
from __future__ import annotations

from pathlib import Path

from ..jsonio import atomic_write_text
from ..records import OptimizeRecord
from .entries import pareto
from .optimize_pick import KB
from .report import markdown_table

REPORT = "report.md"
PLOT = "pareto.png"


def _f(v, fmt="{:.4g}") -> str:
    return "-" if v is None else fmt.format(v)


def rows(rec: OptimizeRecord) -> list[list[str]]:
    out = []
    for c in rec.candidates:
        ci = f" [{c.p50_ci[0]:.4g}-{c.p50_ci[1]:.4g}]" if c.p50_ci else ""
        if c.timed_with:
            ci += f" (one graph with {', '.join(c.timed_with)})"
        vs = c.vs_pick
        out.append([("**" + c.key + "**") if c.key == rec.pick else c.key, _f(c.predicted_ms),
                    (_f(c.p50_ms) + ci) if c.p50_ms is not None else "-",
                    _f(c.gzip_bytes / KB if c.gzip_bytes is not None else None, "{:.1f}"),
                    _f(100 * c.accuracy if c.accuracy is not None else None, "{:.2f}"),
                    f"{100 * vs['diff']:+.2f} ± {100 * vs['se']:.2f}" if vs else "-",
                    "the pick" if c.key == rec.pick else (f"{c.lost}: {c.why}" if c.lost else "-")])
    return out


def plot(folder: Path, rec: OptimizeRecord) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pts = [c for c in rec.candidates if c.p50_ms and c.accuracy is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for c in pts:
        lo, hi = (c.p50_ci if c.p50_ci else (c.p50_ms, c.p50_ms))
        ax.errorbar([c.p50_ms], [100 * c.accuracy], xerr=[[c.p50_ms - lo], [hi - c.p50_ms]], fmt="o", ms=4,
                    color="tab:green" if c.key == rec.pick else "tab:blue", alpha=0.8, capsize=2)
        ax.annotate(c.key, (c.p50_ms, 100 * c.accuracy), fontsize=6, xytext=(4, 3), textcoords="offset points")
    front = sorted((pts[i] for i in pareto([(c.p50_ms, c.accuracy) for c in pts])), key=lambda c: c.p50_ms)
    ax.plot([c.p50_ms for c in front], [100 * c.accuracy for c in front], "-", color="tab:gray", alpha=0.6,
            label="Pareto front")
    ax.axvline(rec.max_ms, color="tab:red", ls="--", label=f"budget {rec.max_ms:.4g} ms")
    best = rec.candidate(rec.pick) if rec.pick else None
    if best is not None:
        ax.plot([best.p50_ms], [100 * best.accuracy], "*", ms=14, color="tab:green", label=f"pick: {best.key}")
    ax.set_xlabel("measured p50 per image (ms, 95 % interval)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("optimize: accuracy against latency on the device")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path = folder / PLOT
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(folder: Path, rec: OptimizeRecord, plan) -> Path:
    budget = f"p50 under {rec.max_ms:.4g} ms (--max-ms {plan.max_ms_text}; upper bound of the 95 % interval)"
    if rec.max_kb is not None:
        budget += f", gzip under {rec.max_kb:g} kB"
    if rec.min_accuracy is not None:
        budget += f", accuracy at least {100 * rec.min_accuracy:.2f} %"
    lines = [f"# optimize {rec.run}", "", f"Budget: {budget}, {rec.threads or 'all'} thread(s), on "
             f"{plan.device} (the table) and timed by {rec.measured_by}.", ""]
    if rec.pick:
        lines.append(f"**Pick: {rec.message}.** Its file: `{rec.pick_file}`.")
        if rec.tie:
            lines.append(f"It was a tie: {', '.join(rec.tied_with)} scored within one paired standard error of the "
                         "most accurate, and the smaller and faster file won (the least gzip size x p50).")
    else:
        lines.append(f"**No pick**: {rec.message}.")
    lines += ["", "Predicted latency chose what to train and time; the pick rests on the measurements."
              + (" Files of one graph (the same ops on the same shapes, only the weights differ) were timed as one: "
                 "their rounds pooled." if any(c.timed_with for c in rec.candidates) else ""), ""]
    cols = ["candidate", "predicted ms", "p50 ms [95 %]", "gzip kB", "accuracy %", "vs pick (points)", "why not"]
    lines.append(markdown_table(cols, rows(rec)))
    p = plot(folder, rec)
    if p is not None:
        lines += ["", f"![accuracy against latency]({p.name})"]
    for n in rec.notes:
        lines += ["", f"Note: {n}"]
    if rec.seconds is not None:
        lines += ["", f"Wall time of optimize: {rec.seconds:.0f} s; its cells' own time (train and export), summed: "
                  f"{rec.cells_seconds or 0:.0f} s."]
    return atomic_write_text(folder / REPORT, "\n".join(lines) + "\n")
