"""The sensitivity file: validation accuracy with one layer's filters removed at each ratio (no fine-tuning)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError
from .base import Record, bounded, extra_field


@dataclass
class LayerSensitivity(Record):
    WHAT = "layer row"
    val_accuracy: list[float] = bounded(0.0, 1.0)
    drop: list[float]
    extra: dict = extra_field()


@dataclass
class SensitivityRecord(Record):
    KIND = "edgeprune-sensitivity"
    TOP = True
    WHAT = "sensitivity file"
    baseline_val_accuracy: float = bounded(0.0, 1.0)
    ratios: list[float] = bounded(0.0, 1.0)
    widths: dict[str, int] = field(default_factory=dict)
    layers: dict[str, LayerSensitivity] = field(default_factory=dict)
    criterion: str = "l1"
    run: str | None = None
    extra: dict = extra_field()

    def check(self, where: str) -> None:
        if not self.ratios or any(not 0 < r < 1 for r in self.ratios):
            raise UserError(f"{where}: 'ratios' must be numbers between 0 and 1 (exclusive)")
        n = len(self.ratios)
        for name, row in self.layers.items():
            if len(row.val_accuracy) != n or len(row.drop) != n:
                raise UserError(f"{where}: layer {name!r} has {len(row.drop)} values for {n} ratios; "
                                "run `edgeprune sensitivity` again")
