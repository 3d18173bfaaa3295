"""A sweep's cells over seeds: mean ± sd of the test accuracy, and of each seed's paired difference against the
control fine-tuned with the same seed (`sweep --seeds 1,2,3 --control`). numpy only.

The sd over seeds is the training noise that a single-seed difference hides; the paired standard error of one seed
covers only the choice of test images. Cells are grouped by their name without the seed suffix (`weight-90-s2` and
a single-seed sweep's `weight-90` are one group), so sweeps run at different times can be put together.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from ..paired_accuracy import PairedDifference, compare
from ..records import SweepCell


def base_name(cell: SweepCell) -> str:
    """The cell's name without the seed suffix a multi-seed sweep adds."""
    return re.sub(rf"-s{cell.seed}$", "", cell.cell) if cell.seed is not None else cell.cell


def is_control(cell: SweepCell) -> bool:
    """The unpruned model fine-tuned like the cells (the dense cell, never fine-tuned, is not a control)."""
    return cell.method == "none" and bool(cell.epochs)


@dataclass
class OverSeeds:
    cell: str
    method: str
    value: float | None
    seeds: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    vs_control: list[PairedDifference | None] = field(default_factory=list)  # per seed, against that seed's control

    @property
    def n(self) -> int:
        return len(self.seeds)

    def accuracy(self) -> tuple[float, float | None]:
        """Mean and sd (None for one seed) of the test accuracy."""
        return _mean_sd(self.test_accuracy)

    def difference(self) -> tuple[float, float | None] | None:
        """Mean and sd of the per-seed paired differences against the control; None where a seed has none."""
        if not self.vs_control or any(d is None for d in self.vs_control):
            return None
        return _mean_sd([d.diff for d in self.vs_control])


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def over_seeds(cells: list[SweepCell]) -> list[OverSeeds]:
    """One row per cell name over every seed it ran with, in the order the names first appear; failed cells and the
    never-fine-tuned dense cell are left out."""
    controls = {c.seed: c for c in cells if is_control(c) and not c.error}
    out: dict[str, OverSeeds] = {}
    for c in cells:
        if c.error or c.test_accuracy is None or (c.method == "none" and not c.epochs):
            continue
        row = out.setdefault(base_name(c), OverSeeds(base_name(c), c.method, c.value))
        if c.seed in row.seeds:  # the same cell and seed twice (two sweeps): the later one counts
            i = row.seeds.index(c.seed)
            del row.seeds[i], row.test_accuracy[i], row.vs_control[i]
        control = controls.get(c.seed)
        row.seeds.append(c.seed)
        row.test_accuracy.append(c.test_accuracy)
        row.vs_control.append(None if is_control(c) or control is None else compare(c.test_correct, control.test_correct))
    return list(out.values())


def points(mean_sd: tuple[float, float | None] | None, signed: bool = False) -> str:
    """'76.12 ± 0.40' (percent, ± sd over seeds), or '-'."""
    if mean_sd is None:
        return "-"
    m, sd = mean_sd
    text = f"{100 * m:+.2f}" if signed else f"{100 * m:.2f}"
    return text + (f" ± {100 * sd:.2f}" if sd is not None else "")
