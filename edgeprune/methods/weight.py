"""``weight``: zero the smallest weights with tfmot's magnitude pruning, on a schedule derived from the data size,
then count the zeros in the saved weights (a shortfall is an error, never a silent result). The options and the
report columns; the work is ``workbench/pruning/methods/weight.py``."""
from __future__ import annotations

from ..errors import UserError
from ..options.prune import check_schedule
from ..records.pruning import PruningRecord
from .base import PruningMethod, SummaryTable


class WeightPruning(PruningMethod):
    name = "weight"
    help = "zero the smallest weights (tfmot magnitude pruning; --sparsity)"
    marker = "s"
    sweep_value = "sparsity"
    sparse_twin = True

    def check(self, o) -> None:
        if o.sparsity is None:
            raise UserError(f"--method {o.method} needs --sparsity, e.g. --sparsity 0.7")
        check_schedule(o.sparsity, o.initial_sparsity, o.schedule, o.epochs)

    def name_part(self, o) -> str:
        return f"w{round(100 * o.sparsity):02d}"

    def report_fields(self, pruning: PruningRecord) -> dict:
        w = pruning.weight
        return {"target": w.target_sparsity, "sparsity": w.sparsity} if w else {}

    def describe(self, pruning: PruningRecord) -> list:
        w = pruning.weight
        if w is None:
            return []
        pct = lambda v, d=2: f"{100 * v:.{d}f}%"  # noqa: E731
        return [SummaryTable("measured sparsity", ["layer", "weights", "nonzero", "sparsity", "pruned"],
                             [[r["layer"], r["kernel"], r["nonzero"], pct(r["sparsity"], 1), "yes" if r["pruned"] else "no"]
                              for r in w.layers]),
                f"sparsity {pct(w.sparsity)} of pruned kernels (target {pct(w.target_sparsity, 0)}), "
                f"{pct(w.sparsity_all)} of all parameters; nonzero {w.nonzero_params:,} of {w.params:,}"]
