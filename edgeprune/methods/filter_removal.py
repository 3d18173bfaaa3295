"""``filter``: remove whole filters and rebuild a smaller dense model (criteria, uniform or global scope, rounding,
per-layer ratios from a sensitivity file), then re-estimate BatchNorm before fine-tuning."""
from __future__ import annotations

from ..errors import UserError
from .base import PruningMethod, SummaryTable


def filter_plan(o, per_layer: dict[str, float]):
    from ..workbench.pruning.filters.plan import FilterPlan

    return FilterPlan(criterion=o.criterion, scope=o.scope, ratio=o.ratio or 0.0, round_to=o.round_to,
                      per_layer=per_layer, seed=o.seed)


class FilterPruning(PruningMethod):
    name = "filter"
    help = "remove whole filters and rebuild a smaller model (--ratio or --sensitivity)"
    marker = "^"
    sweep_value = "ratio"

    def check(self, o) -> None:
        if o.ratio is None and not o.sensitivity:
            raise UserError(f"--method {o.method} needs --ratio (e.g. --ratio 0.3) or --sensitivity FILE")
        filter_plan(o, {}).check()

    def name_part(self, o) -> str:
        return f"f{round(100 * o.ratio):02d}" if o.ratio is not None else "fsens"

    def apply(self, model, ctx):
        from ..readers import read_sensitivity
        from ..workbench.pruning.filters.plan import apply as remove_filters
        from ..workbench.pruning.sensitivity import choose_ratios
        from ..workbench.training.bn_recalibration import recalibrate_checked

        o, data = ctx.options, ctx.data
        per_layer = choose_ratios(read_sensitivity(o.sensitivity), model, o.max_drop) if o.sensitivity else {}
        res = remove_filters(model, filter_plan(o, per_layer))
        if res.summary["params_after"] >= res.summary["params_before"]:
            raise UserError("these options remove no filter (every layer keeps its full width: the ratio is too small "
                            "for --round-to, or --max-drop lets no layer be pruned); nothing was written")
        rec = recalibrate_checked(res.model, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
        res.summary["after_surgery"] = {"val_accuracy_before_bn": rec.val_before, "val_accuracy": rec.val_after}
        ctx.reporter.log(f"filters removed: params {res.summary['params_before']:,} -> {res.summary['params_after']:,}, "
                         f"MACs x{res.summary['macs_ratio']:.2f}; val {rec.val_before:.3f} -> {rec.val_after:.3f} "
                         "after BN re-estimation")
        return res.model, {"filter": res.summary}

    def report_fields(self, pruning) -> dict:
        f = pruning.get("filter") or {}
        return {"target": f.get("ratio"), "ratio": f.get("ratio")}

    def describe(self, pruning) -> list:
        f = pruning["filter"]
        return [SummaryTable("filters kept", ["layer", "before", "kept"],
                             [[r["layer"], r["filters_before"], r["filters_kept"]] for r in f["layers"]]),
                f"params {f['params_before']:,} -> {f['params_after']:,} (x{f['params_ratio']:.2f})   "
                f"MACs {f['macs_before']:,} -> {f['macs_after']:,} (x{f['macs_ratio']:.2f})"]
