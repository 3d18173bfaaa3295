"""The options of `edgeprune report`, `sensitivity` and `data inspect`, declared once (TF-free: the CLI's top level
imports this module)."""
from __future__ import annotations

from dataclasses import dataclass

from . import opt, shared
from .prune import PruneOptions


@dataclass
class ReportOptions:
    out: str | None = opt(None, kind=str, short="-o", help="Name or folder for report.md and the plots (default: "
                          "<workspace>/reports/report).")
    pick: bool = opt(False, help="Name the most accurate model within the limits below.")
    max_gzip_mb: float | None = opt(None, kind=float, help="With --pick: largest gzip size in MB.")
    max_p50_ms: float | None = opt(None, kind=float, help="With --pick: largest median latency in ms.")
    device: str | None = opt(None, kind=str, help="With --pick: the device whose latency counts (part of its name).")
    force: bool = opt(False, help="Replace an existing report.md in --out.")


@dataclass
class SensitivityOptions:
    criterion: str = shared(PruneOptions, "criterion", sweep=False)
    ratios: list[float] = opt(factory=lambda: [round(0.1 * k, 1) for k in range(1, 10)], items=float,
                              help="Ratios to try per layer.")
    out: str | None = opt(None, kind=str, short="-o", help="JSON file (default: <run>/sensitivity.json); a .csv is "
                          "written beside it.")
    force: bool = opt(False, help="Replace an existing file.")


@dataclass
class InspectOptions:
    show: int = opt(20, help="List at most this many bad files.")
