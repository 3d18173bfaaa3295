"""``filter``: remove whole filters and rebuild a smaller dense model (criteria, uniform or global scope, rounding,
per-layer ratios from a sensitivity file), then re-estimate BatchNorm before fine-tuning. The options and the report
columns; the work is ``workbench/pruning/methods/filter.py``."""
from __future__ import annotations

from ..errors import UserError
from ..latency.budget import check_options as check_latency_options
from ..options.prune import check_filter_options
from ..records.pruning import PruningRecord
from .base import PruningMethod, SummaryTable


class FilterPruning(PruningMethod):
    name = "filter"
    help = "remove whole filters and rebuild a smaller model (--ratio or --sensitivity)"
    marker = "^"
    sweep_value = "ratio"
    takes_steps = True
    takes_latency_target = True
    changes_architecture = True

    def check(self, o) -> None:
        if o.target_ms is not None:
            check_latency_options(o)
        elif o.ratio is None and not o.sensitivity:
            raise UserError(f"--method {o.method} needs --ratio (e.g. --ratio 0.3), --sensitivity FILE, or "
                            "--target-ms with --latency-table")
        elif o.latency_table or o.latency_feedback:
            raise UserError("--latency-table and --latency-feedback are read with --target-ms; give the target too")
        check_filter_options(o.ratio or 0.0, o.scope, o.round_to, o.criterion)
        if not 1 <= o.steps <= 20:
            raise UserError(f"--steps must be between 1 and 20, got {o.steps}")
        if o.steps > o.epochs:
            raise UserError(f"--steps {o.steps} needs at least as many --epochs (one fine-tuning epoch per step); "
                            f"got --epochs {o.epochs}")

    def name_part(self, o) -> str:
        if o.target_ms is not None:
            part = f"f{o.target_ms:g}ms"
        else:
            part = f"f{round(100 * o.ratio):02d}" if o.ratio is not None else "fsens"
        return part + (f"s{o.steps}" if o.steps > 1 else "")

    def report_fields(self, pruning: PruningRecord) -> dict:
        f = pruning.filter
        if f is None:
            return {}
        b = f.latency_budget
        if b:
            return {"target": f"{b['target_ms']:g} ms",
                    "ratio": 1.0 - f.params_ratio if f.params_ratio is not None else None,
                    "predicted_ms": b["predicted_ms"], "predicted_format": b["format"]}
        return {"target": f.ratio, "ratio": f.ratio}

    def describe(self, pruning: PruningRecord) -> list:
        f = pruning.filter
        if f is None:
            return []
        out = [SummaryTable("filters kept", ["layer", "before", "kept"],
                            [[r.layer, r.filters_before, r.filters_kept] for r in f.layers]),
               f"params {f.params_before:,} -> {f.params_after:,} (x{f.params_ratio:.2f})   "
               f"MACs {f.macs_before:,} -> {f.macs_after:,} (x{f.macs_ratio:.2f})"]
        b = f.latency_budget
        if b:
            fb = b.get("feedback")
            alloc, ratio = b.get("allocation"), b.get("uniform_ratio")  # recorded since the uniform allocation
            how = f", {alloc}" if isinstance(alloc, str) else ""
            how += f" ratio {ratio:g}" if isinstance(ratio, (int, float)) else ""
            out.append(f"latency budget {b['target_ms']:g} ms ({b['format']}{how}): predicted "
                       f"{b['predicted_ms']:.3f} ms (dense {b['dense_predicted_ms']:.3f} ms) on {b['device']}"
                       + (f", corrected x{fb['factor']:.3f} by the measured {fb['used']}" if fb else ""))
        return out
