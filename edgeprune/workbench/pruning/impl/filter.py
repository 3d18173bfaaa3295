"""``filter``: remove whole filters and rebuild a smaller model, then re-estimate BatchNorm; in one cut or in
``--steps`` cuts with fine-tuning between them; widths from a ratio, a sensitivity file or a latency budget."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ....errors import UserError
from ....latency.budget import Budget, allocation, budget_widths, load_budget, sensitivity_costs
from ....readers import read_sensitivity
from ....records import ModelSignature
from ....records.pruning import FilterSection, PruningRecord
from ...graph import widths as layer_widths
from ...run_files import scores
from ...training.bn_recalibration import recalibrate_checked
from ...training.fit import fit
from ..filters.gradual import step_epochs, step_plan
from ..filters.plan import FilterPlan, channel_scores
from ..filters.plan import apply as remove_filters
from ..sensitivity import choose_ratios
from .base import Applied, Implementation


def model_budget(model, o, workspace=None) -> Budget:
    """The latency budget of ``o`` for ``model`` (edgeprune/latency), read and checked once."""
    mine = ModelSignature(run="", image_size=int(model.input_shape[1]), input_shape=list(model.input_shape[1:]),
                          widths=layer_widths(model))
    return load_budget(o, mine, workspace)


def importance_costs(model, criterion: str, seed: int, images=None) -> dict[str, np.ndarray]:
    """cost[l][k]: importance lost when layer l keeps k channels (its least important ones go first)."""
    out = {}
    for name, s in channel_scores(model, criterion, seed, images).items():
        norm = np.sort(s / (s.max() if s.max() > 0 else 1.0))  # ascending: removed first
        removed = np.concatenate([[0.0], np.cumsum(norm)])  # removed[j]: the j least important removed
        out[name] = removed[::-1].copy()  # indexed by kept count k = n - j
    return out


def train_images(job):
    """(x, y) of the training split: what --criterion taylor differentiates the loss on."""
    train = job.data["train"] if job.data else None
    return (train.x, train.y) if train is not None else None


def filter_plan(o, per_layer: dict[str, float], images=None) -> FilterPlan:
    return FilterPlan(criterion=o.criterion, scope=o.scope, ratio=o.ratio or 0.0, round_to=o.round_to,
                      per_layer=per_layer, seed=o.seed, images=images if o.criterion == "taylor" else None)


class FilterPruning(Implementation):
    name = "filter"

    def apply(self, model, job):
        o = job.options
        budget = None
        if o.target_ms is not None:
            b = job.budget or model_budget(model, o, job.workspace)
            how = allocation(o)
            costs = (sensitivity_costs(read_sensitivity(o.sensitivity), b.widths) if how == "sensitivity"
                     else importance_costs(model, o.criterion, o.seed, train_images(job)) if how == "importance"
                     else None)
            budget = budget_widths(o, b, costs)
            per_layer = {n: 1.0 - w / b.widths[n] for n, w in budget["widths"].items()}
            plan = replace(filter_plan(o, per_layer, train_images(job)), round_to=1)
            fb = budget.get("feedback")
            job.reporter.log(f"latency budget {o.target_ms:g} ms ({o.latency_format}, {how} allocation): predicted "
                             f"{budget['predicted_ms']:.3f} ms, dense {budget['dense_predicted_ms']:.3f} ms, on "
                             f"{budget['device']}" + (f"; measured models ran {fb['factor']:.3f}x the table near "
                                                      f"the target ({fb['used']})" if fb else ""))
        else:
            per_layer = choose_ratios(read_sensitivity(o.sensitivity), model, o.max_drop) if o.sensitivity else {}
            plan = filter_plan(o, per_layer, train_images(job))
        if o.steps <= 1:
            model, summary = self._remove(model, plan, job)
            applied = Applied(model, PruningRecord())
        else:
            applied, summary = self._gradual(model, plan, job)
        if budget:
            summary.update(ratio=None, latency_budget=budget)
        applied.pruning = PruningRecord(filter=FilterSection.from_dict(summary, "filter pruning"))
        return applied

    def _remove(self, model, plan, job):
        """One cut: remove the filters, then re-estimate BatchNorm."""
        data = job.data
        res = remove_filters(model, plan)
        s = res.summary
        if s["params_after"] >= s["params_before"]:
            raise UserError("these options remove no filter (every layer keeps its full width: the ratio is too small "
                            "for --round-to, or --max-drop lets no layer be pruned); nothing was written")
        rec = recalibrate_checked(res.model, data["train"].x, data["val"].x, data["val"].y, seed=plan.seed)
        s["after_surgery"] = {"val_accuracy_before_bn": rec.val_before, "val_accuracy": rec.val_after}
        job.reporter.log(f"filters removed: params {s['params_before']:,} -> {s['params_after']:,}, "
                         f"MACs x{s['macs_ratio']:.2f}; val {rec.val_before:.3f} -> {rec.val_after:.3f} "
                         "after BN re-estimation")
        return res.model, s

    def _gradual(self, model, plan, job):
        """--steps K: K cuts, fine-tuning after each; the last fine-tuning is left to the prune command."""
        K = job.options.steps
        epochs = step_epochs(job.fit.epochs, K)
        original = layer_widths(model)
        first = None
        steps, before = [], 0
        for k in range(1, K + 1):
            model, s = self._remove(model, step_plan(plan, original, layer_widths(model), k, K), job)
            first = first or s
            step = {"step": k, "params": s["params_after"], "epochs": epochs[k - 1],
                    "val_accuracy_after_cut": s["after_surgery"]["val_accuracy"]}
            if k < K:
                job.reporter.log(f"step {k}/{K}: fine-tuning {epochs[k - 1]} epochs before the next cut")
                result = fit(model, job.data, job.fit.window(sum(epochs[:k - 1]), epochs[k - 1]),
                             reporter=job.reporter, teacher=job.teacher)
                before += result.epochs_run
                step.update(epochs_run=result.epochs_run, val_accuracy=scores(model, job.data)["val_accuracy"])
            steps.append(step)
        summary = dict(s)
        final = layer_widths(model)
        summary["layers"] = [{"layer": n, "filters_before": original[n], "filters_kept": final[n]} for n in original]
        summary["groups"] = [dict(g, channels_total=original.get(g["name"], g["channels_total"])) for g in s["groups"]]
        for key in ("params_before", "macs_before"):
            summary[key] = first[key]
        summary["params_ratio"] = summary["params_after"] / summary["params_before"]
        summary["macs_ratio"] = summary["macs_after"] / summary["macs_before"]
        summary.update(ratio=plan.ratio, round_to=plan.round_to, per_layer_ratios=plan.per_layer or None, steps=steps)
        return Applied(model, PruningRecord(), epochs_before=before, epochs_left=epochs[-1]), summary
