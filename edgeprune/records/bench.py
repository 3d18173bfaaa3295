"""The bench JSON: one row per file and thread count, measured on one device."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, bounded, extra_field, fraction

# A Raspberry Pi throttles its clock at 80-85 C: figures measured that hot are suspect
HOT_C = 80.0
# The longest time per image a bench row may hold, in ms (one hour): a larger figure is a damaged or forged file, and
# a value like 1e300 cannot be drawn on a plot's axis
MAX_MS = 3.6e6


@dataclass
class Latency(Record):
    WHAT = "latency"
    p50: float = bounded(1e-9, MAX_MS)
    p99: float = bounded(1e-9, MAX_MS)
    mean: float | None = bounded(0.0, MAX_MS, None)
    std: float | None = bounded(0.0, MAX_MS, None)
    min: float | None = bounded(0.0, MAX_MS, None)
    p90: float | None = bounded(0.0, MAX_MS, None)
    extra: dict = extra_field()


@dataclass
class BenchRow(Record):
    WHAT = "bench row"
    model: str
    name: str | None = None
    format: str | None = None
    sparse: bool | None = None
    threads: int | None = bounded(1, 4096, None)
    xnnpack: bool | None = None
    bytes: int | None = None
    gzip_bytes: int | None = None
    accuracy: float | None = fraction()
    n_images: int | None = None
    latency_ms: Latency | None = None
    images_per_s: float | None = None
    init_ms: float | None = None
    load_ms: float | None = None
    allocate_ms: float | None = None
    first_ms: float | None = None
    peak_rss_mb: float | None = None
    speedup: float | None = None
    macs: int | None = bounded(0, None, None)  # per image, from the bundle's model card (None: not recorded)
    gflops: float | None = bounded(0.0, None, None)  # achieved: 2 x macs / p50 (older bench files lack it)
    rounds: int | None = None  # interleaved rounds, each file in a fresh process per round
    p50_rounds: list[float] | None = bounded(0.0, MAX_MS, None)  # the p50 of each round; latency_ms.p50 is their median
    p50_ci: list[float] | None = bounded(0.0, MAX_MS, None)  # 95 % bootstrap interval of that median, over rounds
    speedup_ci: list[float] | None = None  # 95 % interval of the speed-up (paired per round)
    speedup_resolved: bool | None = None  # False: the interval holds 1.0, the difference is not resolved
    self_check: bool | None = None  # the reference file benched a second time, to show the resolution
    runtime: dict | None = None
    device: dict | None = None
    input: dict | None = None
    data: str | None = None
    labels: list[str] | None = None
    per_class_accuracy: list[float | None] | None = None
    confusion: list | None = None
    predictions: list[int] | None = None
    temperature_c_before: float | None = None
    temperature_c_after: float | None = None
    throttled: str | None = None
    tensorflow_imported: bool | None = None
    note: str | None = None
    error: str | None = None
    extra: dict = extra_field()

    @property
    def p50(self) -> float | None:
        return self.latency_ms.p50 if self.latency_ms else None

    @property
    def label(self) -> str:
        return self.name or self.model

    def warnings(self) -> list[str]:
        """What a reader of this row should be told besides its figures (a note, heat, throttling)."""
        out = [self.note] if self.note and not self.error else []
        if self.temperature_c_after is not None and self.temperature_c_after >= HOT_C:
            out.append(f"CPU at {self.temperature_c_after:.0f} C after the run: results may be throttled")
        if self.throttled not in (None, "0x0"):
            out.append(f"the firmware reports throttling ({self.throttled})")
        return out


@dataclass
class BenchFile(Record):
    KIND = "edgeprune-bench"
    TOP = True
    VERSION = 2
    WHAT = "bench results file"
    device: dict | None = None
    finished: str | None = None
    results: list[BenchRow] = field(default_factory=list)
    extra: dict = extra_field()
