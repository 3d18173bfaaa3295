"""``weight``: tfmot's magnitude pruning while fine-tuning, then the zeros counted in the saved weights."""
from __future__ import annotations

from ....errors import UserError
from ....records.pruning import PruningRecord, WeightSection
from ..schedule import plan_schedule
from ..sparsity import select_layers, sparsity_report
from ..weights import prune_and_finetune
from .base import Applied, Implementation

SPARSITY_TOLERANCE = 0.01


class WeightPruning(Implementation):
    name = "weight"

    def apply(self, model, job):
        o = job.options
        chosen = select_layers(model, o.skip_first, o.skip_last, o.layers)
        nested = [l.name for l in model.layers if hasattr(l, "layers")]
        if nested:
            job.reporter.log(f"note: the layers inside the nested model(s) {', '.join(nested)} are not weight-pruned; "
                             "only the top-level layers are")
        plan = plan_schedule(len(job.data["train"].y), o.batch_size, job.fit.epochs, o.sparsity, o.initial_sparsity,
                             o.schedule)
        job.reporter.log(f"pruning {len(chosen)} layers to {o.sparsity:.0%}: {plan.kind} schedule, steps "
                         f"{plan.begin_step}-{plan.end_step}, every {plan.frequency} steps ({plan.steps_per_epoch} per "
                         "epoch)")
        model, finetuned = prune_and_finetune(model, job.data, chosen, plan, job.fit, job.reporter, job.teacher)
        section = WeightSection(target_sparsity=o.sparsity, schedule=plan.to_dict(), pruned_layers=list(chosen))
        return Applied(model, PruningRecord(weight=section), finetuned=finetuned)

    def finish(self, model, pruning, job):
        w = pruning.weight
        measured = sparsity_report(model, w.pruned_layers)
        w.sparsity, w.sparsity_all = measured["sparsity"], measured["sparsity_all"]
        w.params, w.nonzero_params, w.layers = measured["params"], measured["nonzero_params"], measured["layers"]
        if w.sparsity < w.target_sparsity - SPARSITY_TOLERANCE:
            raise UserError(f"measured sparsity {w.sparsity:.3f} is below the target {w.target_sparsity} "
                            f"(more than {SPARSITY_TOLERANCE} short); nothing was written. Try more --epochs")
        return pruning
