"""A sweep's results.jsonl: one record per line, one per cell (the last record of a cell counts)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, extra_field, fraction
from .bench import BenchRow


@dataclass
class SweepCell(Record):
    KIND = "edgeprune-sweep-cell"
    TOP = True
    VERSION = 2
    WHAT = "sweep cell"
    cell: str
    method: str
    value: float | None = None
    parent: str | None = None
    epochs: int | None = None
    options: dict | None = None
    run: str | None = None
    val_accuracy: float | None = fraction()
    test_accuracy: float | None = fraction()
    sparsity: float | None = fraction()
    params: int | None = None
    nonzero_params: int | None = None
    macs: int | None = None
    bundles: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    fp32_gzip_bytes: int | None = None
    bench: list[BenchRow] = field(default_factory=list)
    seconds: float | None = None
    seed: int | None = None
    distill: bool | None = None
    test_correct: str | None = None  # paired_accuracy.pack, from the cell's run
    executor: str | None = None  # local | ray
    node: str | None = None  # the machine that pruned and exported the cell
    attempts: int | None = None  # ray: how many times the cell was started (a dead worker is retried)
    timing: dict | None = None  # ray: seconds in the worker, from submission to return, bytes returned, landing
    error: str | None = None
    traceback: str | None = None
    extra: dict = extra_field()

    def p50(self, fmt: str = "fp32") -> float | None:
        """The median latency the sweep's table shows: the cell's file of that format, as benched."""
        for b in self.bench:
            if b.format == fmt and b.p50:
                return b.p50
        return None
