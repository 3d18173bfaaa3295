"""``hybrid``: filter removal, then weight pruning of the smaller model (a composition of the two methods)."""
from __future__ import annotations

from .base import Composite
from .filter_removal import FilterPruning
from .weight import WeightPruning


class Hybrid(Composite):
    name = "hybrid"
    help = "filter removal (--ratio), then weight pruning (--sparsity)"
    marker = "D"
    sweep_value = "sparsity"
    steps = (FilterPruning(), WeightPruning())

    def sweep_options(self, value: float, sweep) -> dict:
        return {"ratio": sweep.hybrid_ratio, "sparsity": value}
