"""PNG plots for the report (matplotlib, the optional `edgeprune[report]` extra)."""
from __future__ import annotations

from pathlib import Path

from .entries import Entry

MARKERS = {"none": "o", "weight": "s", "filter": "^", "hybrid": "D"}


def _finish(plt, fig, ax, xlabel: str, ylabel: str, title: str, path: Path, log_x: bool = True) -> Path:
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if log_x else "best")
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
    from .report import devices, pareto

    files = []
    pts = [e for e in entries if e.accuracy is not None and e.gzip_bytes]
    if pts:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for fmt in sorted({e.format for e in pts}):
            for method in MARKERS:
                sel = [e for e in pts if e.format == fmt and e.method == method]
                if sel:
                    ax.scatter([e.gzip_bytes / 1024 for e in sel], [100 * e.accuracy for e in sel], marker=MARKERS[method],
                               s=45, label=f"{method} / {fmt}", alpha=0.85)
        front = pareto([(e.gzip_bytes, e.accuracy) for e in pts])
        fp = sorted((pts[i] for i in front), key=lambda e: e.gzip_bytes)
        ax.step([e.gzip_bytes / 1024 for e in fp], [100 * e.accuracy for e in fp], where="post", color="black",
                lw=1.2, ls="--", label="Pareto front")
        for e in fp:
            ax.annotate(f"{e.bundle}/{e.format}", (e.gzip_bytes / 1024, 100 * e.accuracy), fontsize=7, xytext=(4, 4), textcoords="offset points")
        files.append(_finish(plt, fig, ax, "gzip size of the .tflite file (kB, log scale)", "test accuracy of the .tflite file (%)",
                             "Accuracy against compressed size", out / "accuracy_vs_gzip.png"))
    devs = devices(entries)
    if devs:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for d in devs:
            sel = [e for e in entries if e.accuracy is not None and d in e.latency]
            xs = [e.latency[d]["p50"] for e in sel]
            ys = [100 * e.accuracy for e in sel]
            ax.scatter(xs, ys, label=d, s=45, alpha=0.85)
            front = pareto(list(zip(xs, ys)))
            fp = sorted(front, key=lambda i: xs[i])
            ax.step([xs[i] for i in fp], [ys[i] for i in fp], where="post", lw=1, ls="--")
            for i in fp:
                ax.annotate(f"{sel[i].bundle}/{sel[i].format}", (xs[i], ys[i]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        files.append(_finish(plt, fig, ax, "median latency per image at batch 1 (ms, log scale)",
                             "test accuracy of the .tflite file (%)",
                             "Accuracy against latency, one series per device (dashed: Pareto front)", out / "accuracy_vs_latency.png"))
    if sensitivity:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        ratios = sensitivity["ratios"]
        for name, row in sensitivity["layers"].items():
            ax.plot([100 * r for r in ratios], [100 * a for a in row["val_accuracy"]], marker="o", ms=3, label=name)
        ax.axhline(100 * sensitivity["baseline_val_accuracy"], color="black", ls=":", lw=1, label="unpruned")
        files.append(_finish(plt, fig, ax, "filters removed from this layer alone (%)", "validation accuracy, no fine-tuning (%)",
                             f"Per-layer sensitivity ({sensitivity.get('criterion', 'l1')} criterion)", out / "sensitivity.png",
                             log_x=False))
    return files, None
