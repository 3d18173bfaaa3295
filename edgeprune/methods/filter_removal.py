"""``filter``: remove whole filters and rebuild a smaller dense model (criteria, uniform or global scope, rounding,
per-layer ratios from a sensitivity file), then re-estimate BatchNorm before fine-tuning."""
from __future__ import annotations

from dataclasses import replace

from ..errors import UserError
from .base import PruningMethod, SummaryTable


def check_budget(o) -> None:
    """--target-ms: a positive time, a table this model's format and threads were measured for."""
    import math

    from ..latency_model import LatencyModel
    from ..readers import read_bench_file, read_latency_table

    if not (math.isfinite(o.target_ms) and o.target_ms > 0):
        raise UserError(f"--target-ms must be a positive number of milliseconds, got {o.target_ms}")
    if o.ratio is not None:
        raise UserError("--target-ms chooses every layer's width; leave out --ratio")
    if not o.latency_table:
        raise UserError("--target-ms needs --latency-table TABLE (made by `edgeprune latency measure` on the device)")
    table = read_latency_table(o.latency_table)
    if o.latency_threads is not None and table.threads != o.latency_threads:
        raise UserError(f"{o.latency_table} was measured at {table.threads or 'default'} thread(s), not "
                        f"{o.latency_threads}; measure the probe again with --threads {o.latency_threads}")
    LatencyModel(table, o.latency_format)  # the format was measured, and every grid point has a time
    for f in o.latency_feedback:
        read_bench_file(f)  # a bench JSON, whole, before any training


def table_for(model, o):
    """The latency table of ``o``, checked to be made for ``model``; and the model's signature."""
    from ..readers import read_latency_table
    from ..records import ModelSignature
    from ..workbench.graph import groups

    table = read_latency_table(o.latency_table)
    mine = ModelSignature(run="", image_size=int(model.input_shape[1]), input_shape=list(model.input_shape[1:]),
                          widths={g.producer: int(model.get_layer(g.producer).kernel.shape[-1]) for g in groups(model)})
    why = table.probe.model.same_model(mine)
    if why:
        raise UserError(f"{o.latency_table} was made for another model ({table.probe.model.run}: {why}); probe this "
                        "run and measure again")
    return table, mine


def latency_budget(model, o, workspace=None) -> dict:
    """The widths for ``o.target_ms`` on the table made for this model; with --latency-feedback, for the table's
    prediction corrected by the factor measured nearest the target."""
    from ..latency_model import LatencyModel, describe
    from ..readers import read_sensitivity
    from ..workbench.pruning.latency_budget import choose_widths, importance_costs, sensitivity_costs

    table, mine = table_for(model, o)
    lat = LatencyModel(table, o.latency_format)
    costs = (sensitivity_costs(read_sensitivity(o.sensitivity), mine.widths) if o.sensitivity
             else importance_costs(model, o.criterion, o.seed))
    round_to = o.round_to if o.round_to > 1 else table.probe.round_to
    factor, feedback = 1.0, None
    if o.latency_feedback:
        from ..workbench.pruning.latency_feedback import feedback_points, nearest

        points, notes = feedback_points(o.latency_feedback, lat, o.latency_format, workspace)
        used = nearest(points, o.target_ms)
        factor = used.factor
        feedback = {"bench": [str(f) for f in o.latency_feedback], "points": [p.to_dict() for p in points],
                    "used": used.bundle, "factor": factor, "passed_over": notes}
    try:
        res = choose_widths(lat, costs, o.target_ms / factor, round_to)
    except UserError as exc:
        if factor == 1.0:
            raise
        raise UserError(f"{exc} (the table's prediction; measured models run {factor:.2f}x it, so --target-ms "
                        f"{o.target_ms:g} asks the table for {o.target_ms / factor:.3f} ms)") from None
    out = {"target_ms": o.target_ms, "predicted_ms": res.predicted_ms * factor, "dense_predicted_ms": res.dense_ms,
           "floor_predicted_ms": res.floor_ms, "format": o.latency_format, "widths": res.widths,
           "table": str(o.latency_table), "device": describe(table), "runtime": table.runtime,
           "threads": table.threads, "fit": {"a": lat.a, "b": lat.b}}
    if feedback:
        out["table_predicted_ms"] = res.predicted_ms
        out["feedback"] = feedback
    return out


def filter_plan(o, per_layer: dict[str, float]):
    from ..workbench.pruning.filters.plan import FilterPlan

    return FilterPlan(criterion=o.criterion, scope=o.scope, ratio=o.ratio or 0.0, round_to=o.round_to,
                      per_layer=per_layer, seed=o.seed)


class FilterPruning(PruningMethod):
    name = "filter"
    help = "remove whole filters and rebuild a smaller model (--ratio or --sensitivity)"
    marker = "^"
    sweep_value = "ratio"
    takes_steps = True
    takes_latency_target = True

    def check(self, o) -> None:
        if o.target_ms is not None:
            check_budget(o)
        elif o.ratio is None and not o.sensitivity:
            raise UserError(f"--method {o.method} needs --ratio (e.g. --ratio 0.3), --sensitivity FILE, or "
                            "--target-ms with --latency-table")
        elif o.latency_table or o.latency_feedback:
            raise UserError("--latency-table and --latency-feedback are read with --target-ms; give the target too")
        filter_plan(o, {}).check()
        if not 1 <= o.steps <= 20:
            raise UserError(f"--steps must be between 1 and 20, got {o.steps}")
        if o.steps > o.epochs:
            raise UserError(f"--steps {o.steps} needs at least as many --epochs (one fine-tuning epoch per step); "
                            f"got --epochs {o.epochs}")

    def check_model(self, model, o, workspace=None) -> None:
        if o.target_ms is not None:
            table_for(model, o)
            if o.latency_feedback:  # a bench from another device, or of no bundle here, is refused before decoding
                from ..latency_model import LatencyModel
                from ..readers import read_latency_table
                from ..workbench.pruning.latency_feedback import feedback_points

                lat = LatencyModel(read_latency_table(o.latency_table), o.latency_format)
                feedback_points(o.latency_feedback, lat, o.latency_format, workspace)

    def name_part(self, o) -> str:
        if o.target_ms is not None:
            part = f"f{o.target_ms:g}ms"
        else:
            part = f"f{round(100 * o.ratio):02d}" if o.ratio is not None else "fsens"
        return part + (f"s{o.steps}" if o.steps > 1 else "")

    def apply(self, model, ctx):
        from ..readers import read_sensitivity
        from ..workbench.pruning.sensitivity import choose_ratios

        o = ctx.options
        budget = None
        if o.target_ms is not None:
            budget = latency_budget(model, o, ctx.workspace)
            per_layer = {n: 1.0 - w / model.get_layer(n).kernel.shape[-1] for n, w in budget["widths"].items()}
            plan = replace(filter_plan(o, per_layer), round_to=1)
            fb = budget.get("feedback")
            ctx.reporter.log(f"latency budget {o.target_ms:g} ms ({o.latency_format}): predicted "
                             f"{budget['predicted_ms']:.3f} ms, dense {budget['dense_predicted_ms']:.3f} ms, on "
                             f"{budget['device']}" + (f"; measured models ran {fb['factor']:.3f}x the table near "
                                                      f"the target ({fb['used']})" if fb else ""))
        else:
            per_layer = choose_ratios(read_sensitivity(o.sensitivity), model, o.max_drop) if o.sensitivity else {}
            plan = filter_plan(o, per_layer)
        if o.steps <= 1:
            res = self._remove(model, plan, ctx)
            model, pruning = res.model, {"filter": res.summary}
        else:
            model, pruning = self._gradual(model, plan, ctx)
        if budget:
            pruning["filter"].update(ratio=None, latency_budget=budget)
        return model, pruning

    def _remove(self, model, plan, ctx):
        """One cut: remove the filters, then re-estimate BatchNorm."""
        from ..workbench.pruning.filters.plan import apply as remove_filters
        from ..workbench.training.bn_recalibration import recalibrate_checked

        data = ctx.data
        res = remove_filters(model, plan)
        if res.summary["params_after"] >= res.summary["params_before"]:
            raise UserError("these options remove no filter (every layer keeps its full width: the ratio is too small "
                            "for --round-to, or --max-drop lets no layer be pruned); nothing was written")
        rec = recalibrate_checked(res.model, data["train"].x, data["val"].x, data["val"].y, seed=plan.seed)
        res.summary["after_surgery"] = {"val_accuracy_before_bn": rec.val_before, "val_accuracy": rec.val_after}
        ctx.reporter.log(f"filters removed: params {res.summary['params_before']:,} -> {res.summary['params_after']:,}, "
                         f"MACs x{res.summary['macs_ratio']:.2f}; val {rec.val_before:.3f} -> {rec.val_after:.3f} "
                         "after BN re-estimation")
        return res

    def _gradual(self, model, plan, ctx):
        """--steps K: K cuts, fine-tuning after each; the last fine-tuning is left to the prune command."""
        from dataclasses import replace

        from ..workbench.graph import groups
        from ..workbench.pruning.filters.gradual import step_epochs, step_plan
        from ..workbench.run_files import scores
        from ..workbench.training.fit import fit

        o = ctx.options
        K = o.steps
        epochs = step_epochs(ctx.fit.epochs, K)
        widths = lambda m: {g.producer: int(m.get_layer(g.producer).kernel.shape[-1]) for g in groups(m)}  # noqa: E731
        original = widths(model)
        first = None
        steps = []
        for k in range(1, K + 1):
            res = self._remove(model, step_plan(plan, original, widths(model), k, K), ctx)
            first = first or res.summary
            model = res.model
            step = {"step": k, "params": res.summary["params_after"], "epochs": epochs[k - 1],
                    "val_accuracy_after_cut": res.summary["after_surgery"]["val_accuracy"]}
            if k < K:
                ctx.reporter.log(f"step {k}/{K}: fine-tuning {epochs[k - 1]} epochs before the next cut")
                result = fit(model, ctx.data, replace(ctx.fit, epochs=epochs[k - 1]), reporter=ctx.reporter,
                             teacher=ctx.teacher)
                ctx.epochs_before += result.epochs_run
                step.update(epochs_run=result.epochs_run, val_accuracy=scores(model, ctx.data)["val_accuracy"])
            steps.append(step)
        ctx.fit = replace(ctx.fit, epochs=epochs[-1])
        summary = dict(res.summary)
        final = widths(model)
        summary["layers"] = [{"layer": n, "filters_before": original[n], "filters_kept": final[n]} for n in original]
        for key in ("params_before", "macs_before"):
            summary[key] = first[key]
        summary["params_ratio"] = summary["params_after"] / summary["params_before"]
        summary["macs_ratio"] = summary["macs_after"] / summary["macs_before"]
        summary.update(ratio=plan.ratio, round_to=plan.round_to, per_layer_ratios=plan.per_layer or None,
                       steps=steps)
        return model, {"filter": summary}

    def report_fields(self, pruning) -> dict:
        f = pruning.get("filter") or {}
        b = f.get("latency_budget")
        if b:
            return {"target": f"{b['target_ms']:g} ms", "ratio": 1.0 - f["params_ratio"],
                    "predicted_ms": b["predicted_ms"], "predicted_format": b["format"]}
        return {"target": f.get("ratio"), "ratio": f.get("ratio")}

    def describe(self, pruning) -> list:
        f = pruning["filter"]
        return [SummaryTable("filters kept", ["layer", "before", "kept"],
                             [[r["layer"], r["filters_before"], r["filters_kept"]] for r in f["layers"]]),
                f"params {f['params_before']:,} -> {f['params_after']:,} (x{f['params_ratio']:.2f})   "
                f"MACs {f['macs_before']:,} -> {f['macs_after']:,} (x{f['macs_ratio']:.2f})"] + (
            [f"latency budget {f['latency_budget']['target_ms']:g} ms ({f['latency_budget']['format']}): predicted "
             f"{f['latency_budget']['predicted_ms']:.3f} ms (dense {f['latency_budget']['dense_predicted_ms']:.3f} ms) "
             f"on {f['latency_budget']['device']}" + (
                 f", corrected x{f['latency_budget']['feedback']['factor']:.3f} by the measured "
                 f"{f['latency_budget']['feedback']['used']}" if f["latency_budget"].get("feedback") else "")]
            if f.get("latency_budget") else [])
