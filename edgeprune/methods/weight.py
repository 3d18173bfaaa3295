"""``weight``: zero the smallest weights with tfmot's magnitude pruning, on a schedule derived from the data size,
then count the zeros in the saved weights (a shortfall is an error, never a silent result)."""
from __future__ import annotations

from ..errors import UserError
from .base import PruningMethod, SummaryTable

SPARSITY_TOLERANCE = 0.01


class WeightPruning(PruningMethod):
    name = "weight"
    help = "zero the smallest weights (tfmot magnitude pruning; --sparsity)"
    marker = "s"
    sweep_value = "sparsity"

    def check(self, o) -> None:
        from ..workbench.pruning.schedule import check_options

        if o.sparsity is None:
            raise UserError(f"--method {o.method} needs --sparsity, e.g. --sparsity 0.7")
        check_options(o.sparsity, o.initial_sparsity, o.schedule, o.epochs)

    def name_part(self, o) -> str:
        return f"w{round(100 * o.sparsity):02d}"

    def apply(self, model, ctx):
        from ..workbench.pruning.schedule import plan_schedule
        from ..workbench.pruning.sparsity import select_layers
        from ..workbench.pruning.weights import prune_and_finetune

        o = ctx.options
        chosen = select_layers(model, o.skip_first, o.skip_last, o.layers)
        nested = [l.name for l in model.layers if hasattr(l, "layers")]
        if nested:
            ctx.reporter.log(f"note: the layers inside the nested model(s) {', '.join(nested)} are not weight-pruned; "
                             "only the top-level layers are")
        plan = plan_schedule(len(ctx.data["train"].y), o.batch_size, ctx.fit.epochs, o.sparsity, o.initial_sparsity,
                             o.schedule)
        ctx.reporter.log(f"pruning {len(chosen)} layers to {o.sparsity:.0%}: {plan.kind} schedule, steps "
                         f"{plan.begin_step}-{plan.end_step}, every {plan.frequency} steps ({plan.steps_per_epoch} per epoch)")
        model, ctx.finetuned = prune_and_finetune(model, ctx.data, chosen, plan, ctx.fit, ctx.reporter, ctx.teacher)
        return model, {"weight": {"method": "weight", "target_sparsity": o.sparsity, "schedule": plan.to_dict(),
                                  "pruned_layers": chosen}}

    def finish(self, model, pruning, ctx) -> None:
        from ..workbench.pruning.sparsity import sparsity_report

        wp = pruning["weight"]
        measured = sparsity_report(model, wp["pruned_layers"])
        wp.update(measured)
        target = wp["target_sparsity"]
        if measured["sparsity"] < target - SPARSITY_TOLERANCE:
            raise UserError(f"measured sparsity {measured['sparsity']:.3f} is below the target {target} "
                            f"(more than {SPARSITY_TOLERANCE} short); nothing was written. Try more --epochs")

    def report_fields(self, pruning) -> dict:
        w = pruning.get("weight") or {}
        return {"target": w.get("target_sparsity"), "sparsity": w.get("sparsity")}

    def describe(self, pruning) -> list:
        w = pruning["weight"]
        pct = lambda v, d=2: f"{100 * v:.{d}f}%"  # noqa: E731
        return [SummaryTable("measured sparsity", ["layer", "weights", "nonzero", "sparsity", "pruned"],
                             [[r["layer"], r["kernel"], r["nonzero"], pct(r["sparsity"], 1), "yes" if r["pruned"] else "no"]
                              for r in w["layers"]]),
                f"sparsity {pct(w['sparsity'])} of pruned kernels (target {pct(w['target_sparsity'], 0)}), "
                f"{pct(w['sparsity_all'])} of all parameters; nonzero {w['nonzero_params']:,} of {w['params']:,}"]
