"""PNG plots for the report (matplotlib, the optional `edgeprune[report]` extra).

Every point is labelled with its model and format, sizes and latencies are shown in plain kB and ms on log axes,
and the legend sits outside the axes, so it never covers a point.
"""
from __future__ import annotations

import math
from pathlib import Path

from .. import methods
from .entries import Entry, devices, pareto


def _marker(method: str) -> str:
    m = methods.find(method)
    return m.marker if m else "x"


def _plain_log_axis(axis) -> None:
    """Log scale with ticks written as plain numbers (0.2, 0.5, 1, 2, 5, ...), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _plottable(v) -> bool:
    """A value a log axis can show: a finite positive number (the readers bound them; a plot never fails on one)."""
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def _label_points(ax, xs, ys, labels) -> None:
    for x, y, text in zip(xs, ys, labels):
        ax.annotate(text, (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points", alpha=0.9)


def _finish(plt, fig, ax, xlabel: str, ylabel: str, title: str, path: Path, log_x: bool = True) -> Path:
    if log_x:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
    ax.margins(x=0.12, y=0.06)  # room for the labels of the outermost points
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # outside: covers nothing
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_all(entries: list[Entry], out: Path, sensitivity: dict | None) -> tuple[list[Path], str | None]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib is not installed (pip install 'edgeprune[report]'): tables only, no plots"
    files = []
    pts = [e for e in entries if e.accuracy is not None and _plottable(e.gzip_bytes)]
    if pts:
        fig, ax = plt.subplots(figsize=(10, 6))
        for fmt in sorted({e.format for e in pts}):
            for method in sorted({e.method for e in pts}, key=methods.order):
                sel = [e for e in pts if e.format == fmt and e.method == method]
                if sel:
                    xs, ys = [e.gzip_bytes / 1024 for e in sel], [100 * e.accuracy for e in sel]
                    ax.scatter(xs, ys, marker=_marker(method), s=45, label=f"{method} / {fmt}", alpha=0.85)
                    _label_points(ax, xs, ys, [f"{e.bundle}/{e.format}" for e in sel])
        front = pareto([(e.gzip_bytes, e.accuracy) for e in pts])
        fp = sorted((pts[i] for i in front), key=lambda e: e.gzip_bytes)
        ax.step([e.gzip_bytes / 1024 for e in fp], [100 * e.accuracy for e in fp], where="post", color="black",
                lw=1.2, ls="--", label="Pareto front")
        files.append(_finish(plt, fig, ax, "gzip size of the .tflite file (kB, log scale)", "test accuracy of the .tflite file (%)",
                             "Accuracy against compressed size", out / "accuracy_vs_gzip.png"))
    devs = devices(entries)
    if devs:
        fig, ax = plt.subplots(figsize=(10, 6))
        for d in devs:
            sel = [e for e in entries if e.accuracy is not None and _plottable((e.latency.get(d) or {}).get("p50"))]
            xs = [e.latency[d]["p50"] for e in sel]
            ys = [100 * e.accuracy for e in sel]
            ax.scatter(xs, ys, label=d, s=45, alpha=0.85)
            _label_points(ax, xs, ys, [f"{e.bundle}/{e.format}" for e in sel])
            front = pareto(list(zip(xs, ys)))
            fp = sorted(front, key=lambda i: xs[i])
            ax.step([xs[i] for i in fp], [ys[i] for i in fp], where="post", lw=1, ls="--")
        files.append(_finish(plt, fig, ax, "median latency per image at batch 1 (ms, log scale)",
                             "test accuracy of the .tflite file (%)",
                             "Accuracy against latency, one series per device (dashed: Pareto front)", out / "accuracy_vs_latency.png"))
    if sensitivity:
        fig, ax = plt.subplots(figsize=(10, 6))
        ratios = sensitivity["ratios"]
        for name, row in sensitivity["layers"].items():
            ax.plot([100 * r for r in ratios], [100 * a for a in row["val_accuracy"]], marker="o", ms=3, label=name)
        ax.axhline(100 * sensitivity["baseline_val_accuracy"], color="black", ls=":", lw=1, label="unpruned")
        files.append(_finish(plt, fig, ax, "filters removed from this layer alone (%)", "validation accuracy, no fine-tuning (%)",
                             f"Per-layer sensitivity ({sensitivity.get('criterion', 'l1')} criterion)", out / "sensitivity.png",
                             log_x=False))
    return files, None
