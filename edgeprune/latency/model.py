"""A model's latency predicted from a table measured on the device (`edgeprune latency measure`).

Each segment of the chain (a prunable layer and what follows it up to the next one) was timed alone over a grid
of (input channels, output channels). A model with given widths is predicted as a + b * (sum of its segments'
latencies, interpolated bilinearly on the grid), where a and b are fitted on whole models (the "fit" variants:
uniform widths, and a few at random widths, since pruning chooses uneven ones): the segments' sum counts the
per-invoke overhead once per segment, the whole model once. A fitted line can have a negative intercept, so a
prediction is never below the smallest time the table measured for a whole model (``floor_ms``).
The "validate" variants (random per-layer widths) were not used to fit, so `check` reports an honest error.

numpy only: it reads a table on the device, and the workbench uses it to choose widths.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..records import LatencyTable, ProbeFile, Segment


@dataclass
class Curve:
    segment: Segment
    p50: np.ndarray  # (len(cins), len(couts)) in ms

    def at(self, cin: float, cout: float) -> float:
        s = self.segment
        cols = np.array([np.interp(cin, s.cins, self.p50[:, j]) for j in range(len(s.couts))])
        return float(np.interp(cout, s.couts, cols))


@dataclass
class Variant:
    file: str
    role: str
    widths: dict[str, int]
    measured: float | None
    error: str | None


@dataclass
class CheckRow:
    file: str
    role: str
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured


class LatencyModel:
    def __init__(self, table: LatencyTable, fmt: str):
        self.table, self.format = table, fmt
        probe = table.probe
        if fmt not in probe.formats:
            raise UserError(f"the latency table was measured for {', '.join(probe.formats)}, not {fmt}; probe and "
                            f"measure again with --formats {fmt}")
        rows = {r.file: r for r in table.rows}
        self.curves: list[Curve] = []
        for seg in probe.segments:
            grid = np.full((len(seg.cins), len(seg.couts)), np.nan)
            for f in probe.files:
                if f.kind == "segment" and f.format == fmt and f.segment == seg.name:
                    r = rows.get(f.file)
                    if r is not None and r.time_ms is not None and f.cin in seg.cins and f.cout in seg.couts:
                        grid[seg.cins.index(f.cin), seg.couts.index(f.cout)] = r.time_ms
            if np.isnan(grid).any():
                missing = int(np.isnan(grid).sum())
                raise UserError(f"the latency table has no time for {missing} grid point(s) of segment {seg.name!r} "
                                f"({fmt}); measure the probe again (it resumes) or probe again")
            self.curves.append(Curve(seg, grid))
        self.variants = [Variant(f.file, f.role or "validate", dict(f.widths or {}),
                                 rows[f.file].time_ms if f.file in rows else None,
                                 rows[f.file].error if f.file in rows else "not measured")
                         for f in probe.files if f.kind == "variant" and f.format == fmt]
        self.a, self.b = self._fit()
        # the fit raised above unless at least one whole model was measured
        self.floor_ms = min(v.measured for v in self.variants if v.measured)

    @property
    def widths(self) -> dict[str, int]:
        """Every prunable layer's full width."""
        return dict(self.table.probe.model.widths)

    def raw(self, widths: dict[str, int]) -> float:
        total = 0.0
        for c in self.curves:
            s = c.segment
            cin = widths.get(s.cin_from, s.cin_full) if s.cin_from else s.cin_full
            cout = widths.get(s.producer, s.cout_full) if s.producer else s.cout_full
            total += c.at(cin, cout)
        return total

    def predict(self, widths: dict[str, int]) -> float:
        return max(self.floor_ms, self.a + self.b * self.raw(widths))

    def _fit(self) -> tuple[float, float]:
        fit = [(self.raw(v.widths), v.measured) for v in self.variants if v.role == "fit" and v.measured]
        if len(fit) >= 2 and len({round(r, 9) for r, _ in fit}) >= 2:
            x = np.array([r for r, _ in fit])
            y = np.array([m for _, m in fit])
            b, a = np.polyfit(x, y, 1)
            if b > 0:
                return float(a), float(b)
        if fit:
            return float(statistics.median(m - r for r, m in fit)), 1.0
        raise UserError("the latency table has no measured whole-model variant to fit the overhead; measure again")

    def check(self, role: str = "validate") -> list[CheckRow]:
        return [CheckRow(v.file, v.role, self.predict(v.widths), v.measured) for v in self.variants
                if v.role == role and v.measured]


def median_abs_error(rows: list[CheckRow]) -> float | None:
    return statistics.median(abs(r.error) for r in rows) if rows else None


def describe(table: LatencyTable) -> str:
    """Where and how a table was measured, in one line."""
    from ..device.sysinfo import device_label

    rt = table.runtime or {}
    return (f"{device_label(table.device)}, {rt.get('name', '?')} {rt.get('version', '')}, "
            f"{table.threads or 'default'} thread(s)")


__all__ = ["LatencyModel", "CheckRow", "median_abs_error", "describe", "ProbeFile"]
