"""Latency budgets (prune to a target measured on the device): the probe bundle's manifest and the latency table
that `edgeprune latency measure` writes from it on the device."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError
from .base import Record, bounded, extra_field, matching, one_of

FILE_NAME = r"[A-Za-z0-9_.-]+\.tflite"


@dataclass
class Segment(Record):
    """One piece of the chain whose latency depends on two widths: its input channels (the previous prunable
    layer's width) and its own output width. The first segment has a fixed input; the tail a fixed output."""

    WHAT = "segment"
    name: str
    producer: str | None  # the prunable layer whose width is ``cout``; None for the tail (the classifier)
    cin_from: str | None  # the prunable layer whose width is ``cin``; None for the first segment
    cin_full: int = bounded(1, 1 << 20)
    cout_full: int = bounded(1, 1 << 20)
    cins: list[int] = field(default_factory=list)  # the grid, ascending
    couts: list[int] = field(default_factory=list)
    extra: dict = extra_field()

    def check(self, where: str) -> None:
        for axis, values, full in (("cins", self.cins, self.cin_full), ("couts", self.couts, self.cout_full)):
            if not values or values != sorted(set(values)) or values[0] < 1 or values[-1] != full:
                raise UserError(f"{where}: {axis!r} must be ascending widths ending at the full width {full}")


@dataclass
class ProbeFile(Record):
    WHAT = "probe file"
    file: str = matching(FILE_NAME)
    kind: str = one_of("segment", "variant")
    format: str = ""
    segment: str | None = None  # kind segment
    cin: int | None = None
    cout: int | None = None
    widths: dict[str, int] | None = None  # kind variant: every prunable layer's width
    role: str | None = None  # kind variant: "fit" (the overhead) or "validate"
    extra: dict = extra_field()


@dataclass
class ModelSignature(Record):
    """What a table is valid for: the model's prunable layers and their full widths, its input, and the image size."""

    WHAT = "model signature"
    run: str
    image_size: int = bounded(1, 4096)
    input_shape: list[int] = field(default_factory=list)
    widths: dict[str, int] = field(default_factory=dict)  # every prunable layer, in model order, full width
    extra: dict = extra_field()

    def same_model(self, other: "ModelSignature") -> str | None:
        """Why ``other`` is another model, or None."""
        if self.image_size != other.image_size:
            return f"image size {self.image_size} px, not {other.image_size} px"
        if self.widths != other.widths:
            return f"layers {_short(self.widths)}, not {_short(other.widths)}"
        if self.input_shape != other.input_shape:
            return f"input {self.input_shape}, not {other.input_shape}"
        return None


def _short(widths: dict) -> str:
    items = [f"{k}:{v}" for k, v in widths.items()]
    return ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")


@dataclass
class ProbeManifest(Record):
    KIND = "edgeprune-latency-probe"
    TOP = True
    WHAT = "latency probe"
    model: ModelSignature
    round_to: int = bounded(1, 4096)
    formats: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    files: list[ProbeFile] = field(default_factory=list)
    edgeprune: str | None = None
    extra: dict = extra_field()


@dataclass
class LatencyRow(Record):
    WHAT = "latency row"
    file: str = matching(FILE_NAME)
    p50_ms: float | None = bounded(0.0, 1e7, default=None)
    p90_ms: float | None = bounded(0.0, 1e7, default=None)
    runs: int | None = None  # over every pass
    error: str | None = None
    # one p50 per pass; p50_ms is the fastest (older tables wrote the median; time_ms reads both alike)
    p50_passes: list[float] | None = bounded(0.0, 1e7, default=None)
    p90_passes: list[float] | None = bounded(0.0, 1e7, default=None)
    extra: dict = extra_field()

    @property
    def time_ms(self) -> float | None:
        """What the table says this file takes: the fastest pass's p50 (one pass, or a table without passes: its
        p50). On a shared 2-core VM a file's pass often came out near 2x its fastest, in slow spells (BENCHMARKS.md,
        "Latency tables of graph models"); the median of 3 passes then keeps a slow pass for a file that two of them
        caught, the fastest only for one that all of them did. It reads low by the spread of a quiet pass, and it is
        the uncontended time: `edgeprune bench` reports the median of its rounds."""
        if self.error:
            return None
        return min(self.p50_passes) if self.p50_passes else self.p50_ms


@dataclass
class LatencyTable(Record):
    KIND = "edgeprune-latency-table"
    TOP = True
    WHAT = "latency table"
    probe: ProbeManifest
    threads: int | None = None
    device: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    xnnpack: bool = True
    rows: list[LatencyRow] = field(default_factory=list)
    edgeprune: str | None = None
    extra: dict = extra_field()

    def check(self, where: str) -> None:
        known = {f.file for f in self.probe.files}
        stray = [r.file for r in self.rows if r.file not in known]
        if stray:
            raise UserError(f"{where}: row {stray[0]!r} names no file of its probe; the table was edited")
