"""Per-layer widths for a latency budget, on a latency table measured on the device. Two allocations:

- **uniform** (`--scope uniform`, the default): one ratio for every layer, the smallest whose widths the table
  predicts within the target. Measured here, the greedy allocation never beat it by more than the paired s.e.; it
  lost to it at equal latency on the study CNN at 32 px, and at the same --target-ms on ResNet-20 and MobileNetV2
  (BENCHMARKS.md: "Allocation at equal latency", "Prune to a latency budget", "Filter pruning of graphs").
- **greedy** (`--scope global`, or with `--sensitivity`): the least channel importance lost for a predicted latency
  at most the target (NetAdapt's greedy steps). From the full model, each step removes ``round_to`` channels from
  the one layer whose removal loses the least importance per millisecond saved, until the prediction is within the
  target. Importance is the filter criterion's score normalised per layer (as `--scope global` ranks filters; the
  workbench computes it from the weights); with a sensitivity file, a layer's cost is its measured validation drop
  at that ratio instead. It piles the cut on the layers that cost the most time per channel, some to their floor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..options.prune import DenseFraction, layer_floor, parse_target_ms, uniform_widths
from ..readers import read_bench_file, read_latency_table
from ..records import LatencyTable, ModelSignature, SensitivityRecord
from .model import LatencyModel, describe


@dataclass
class BudgetResult:
    widths: dict[str, int]
    predicted_ms: float
    dense_ms: float
    floor_ms: float
    steps: int
    ratio: float | None = None  # the uniform allocation's one ratio


UNIFORM_RATIOS = [round(0.005 * k, 3) for k in range(191)]  # 0 to 0.95 (the floors keep 5 %): the uniform search


def sensitivity_costs(sens: SensitivityRecord, widths: dict[str, int]) -> dict[str, np.ndarray]:
    """cost[l][k]: the measured validation drop at ratio 1 - k/n, interpolated (0 at full width)."""
    if sens.widths != widths:
        raise UserError("the sensitivity file was made for another model (its layers or widths differ); run "
                        "`edgeprune sensitivity` on this run")
    out = {}
    for name, n in widths.items():
        row = sens.layers.get(name)
        ks = np.arange(n + 1)
        if row is None:
            out[name] = np.zeros(n + 1)
            continue
        ratios = np.concatenate([[0.0], sens.ratios])
        drops = np.maximum(0.0, np.concatenate([[0.0], row.drop]))
        out[name] = np.interp(1.0 - ks / n, ratios, drops)
    return out


def _reachable(lat: LatencyModel, target_ms: float, round_to: int) -> tuple[dict[str, int], float, float]:
    """The floors' widths and the dense and floor predictions; a one-line error when the floors miss the target."""
    floors = {n: layer_floor(w, round_to) for n, w in lat.widths.items()}
    dense_ms, floor_ms = lat.predict(lat.widths), lat.predict(floors)
    if floor_ms > target_ms:
        raise UserError(f"--target-ms {target_ms:g} is below what the smallest allowed model reaches: {floor_ms:.3f} ms "
                        f"predicted (dense {dense_ms:.3f} ms) on {_device(lat)}; ask for {floor_ms:.3f} ms or more")
    return floors, dense_ms, floor_ms


def uniform_budget(lat: LatencyModel, target_ms: float, round_to: int) -> BudgetResult:
    """The smallest ratio of UNIFORM_RATIOS, the same in every layer, whose widths the table predicts within the
    target."""
    _, dense_ms, floor_ms = _reachable(lat, target_ms, round_to)
    for steps, r in enumerate(UNIFORM_RATIOS):
        widths = uniform_widths(lat.widths, r, round_to)
        now = lat.predict(widths)
        if now <= target_ms:
            return BudgetResult(widths, now, dense_ms, floor_ms, steps, ratio=r)
    raise UserError(f"no uniform ratio reaches --target-ms {target_ms:g} (the floors alone are predicted at "
                    f"{floor_ms:.3f} ms); ask for more, or allocate per layer with --scope global")


def choose_widths(lat: LatencyModel, costs: dict[str, np.ndarray], target_ms: float, round_to: int) -> BudgetResult:
    full = lat.widths
    if set(costs) != set(full):
        raise UserError("the latency table was made for another model: its prunable layers differ from this run's")
    floors, dense_ms, floor_ms = _reachable(lat, target_ms, round_to)
    widths = dict(full)
    now, steps = dense_ms, 0
    while now > target_ms:
        best = None
        for name, w in widths.items():
            new = max(floors[name], ((w - 1) // round_to) * round_to) if w % round_to else w - round_to
            new = max(floors[name], new)
            if new >= w:
                continue
            trial = {**widths, name: new}
            t = lat.predict(trial)
            saved = now - t
            lost = float(costs[name][new] - costs[name][w])
            score = lost / saved if saved > 1e-12 else float("inf")
            key = (score, -saved)
            if best is None or key < best[0]:
                best = (key, name, new, t)
        if best is None:
            break
        _, name, new, now = best
        widths[name] = new
        steps += 1
    if now > target_ms:  # every layer at its floor, and the prediction still above (cannot happen: checked above)
        raise UserError(f"no widths reach --target-ms {target_ms:g}; the smallest reachable is {floor_ms:.3f} ms")
    return BudgetResult(widths, now, dense_ms, floor_ms, steps)


def _device(lat: LatencyModel) -> str:
    return describe(lat.table)


@dataclass
class Budget:
    """--target-ms for one model: the table read and checked against the model once, the latency model fitted
    once, and the correction measured on the device (--latency-feedback) resolved once."""

    table: LatencyTable
    lat: LatencyModel
    widths: dict[str, int]  # the model's full widths
    factor: float = 1.0
    feedback: dict | None = None


def check_options(o) -> None:
    """--target-ms and its companions, before any model is loaded: a positive time, a table whose format and threads
    were measured, a --ratio left out, bench files that read."""
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


def load_budget(o, signature: ModelSignature, workspace: Path | None = None) -> Budget:
    """The budget of ``o`` for the model ``signature`` describes (its input and full widths)."""
    from .feedback import feedback_points, nearest

    table = read_latency_table(o.latency_table)
    why = table.probe.model.same_model(signature)
    if why:
        raise UserError(f"{o.latency_table} was made for another model ({table.probe.model.run}: {why}); probe this "
                        "run and measure again")
    lat = LatencyModel(table, o.latency_format)
    budget = Budget(table, lat, dict(signature.widths))
    if o.latency_feedback:  # a bench from another device, or of no bundle here, is refused before any data is read
        points, notes = feedback_points(o.latency_feedback, lat, o.latency_format, workspace)
        used = nearest(points, o.target_ms)
        budget.factor = used.factor
        budget.feedback = {"bench": [str(f) for f in o.latency_feedback], "points": [p.to_dict() for p in points],
                           "used": used.bundle, "factor": used.factor, "passed_over": notes}
    return budget


def allocation(o) -> str:
    """How --target-ms spreads the cut: by measured drops (--sensitivity), by importance per millisecond (--scope
    global), or one ratio for every layer (--scope uniform)."""
    return "sensitivity" if o.sensitivity else ("importance" if o.scope == "global" else "uniform")


def budget_widths(o, b: Budget, costs: dict[str, np.ndarray] | None) -> dict:
    """The widths for ``o.target_ms`` whose table prediction, corrected by the measured factor, meets it; what
    run.json records of the budget. ``costs`` (per layer and kept width) for a greedy allocation, None for the
    uniform one."""
    round_to = o.round_to if o.round_to > 1 else b.table.probe.round_to
    try:
        res = (uniform_budget(b.lat, o.target_ms / b.factor, round_to) if costs is None
               else choose_widths(b.lat, costs, o.target_ms / b.factor, round_to))
    except UserError as exc:
        if b.factor == 1.0:
            raise
        raise UserError(f"{exc} (the table's prediction; measured models run {b.factor:.2f}x it, so --target-ms "
                        f"{o.target_ms:g} asks the table for {o.target_ms / b.factor:.3f} ms)") from None
    out = {"target_ms": o.target_ms, "allocation": allocation(o), "uniform_ratio": res.ratio,
           "predicted_ms": res.predicted_ms * b.factor, "dense_predicted_ms": res.dense_ms,
           "floor_predicted_ms": res.floor_ms, "format": o.latency_format, "widths": res.widths,
           "table": str(o.latency_table), "device": describe(b.table), "runtime": b.table.runtime,
           "threads": b.table.threads, "fit": {"a": b.lat.a, "b": b.lat.b}}
    if b.feedback:
        out["table_predicted_ms"] = res.predicted_ms
        out["feedback"] = b.feedback
    return out


def parse_target(text: str, dense_ms: float | None) -> float:
    """'0.5x' is half the dense model's predicted latency; '1.2' is 1.2 ms (the text read by parse_target_ms)."""
    v = parse_target_ms(text)
    if isinstance(v, DenseFraction):
        if dense_ms is None:
            raise UserError("a target like 0.5x needs --latency-table to know the dense model's latency")
        return float(v) * dense_ms
    return v


def dense_predicted_ms(table_path: str, fmt: str) -> float:
    """The table's prediction for the dense model in ``fmt``: what a target like 0.5x is a fraction of."""
    lat = LatencyModel(read_latency_table(table_path), fmt)
    return lat.predict(lat.widths)


def resolved_targets(targets: list[str], table_path: str | None, fmt: str) -> list[tuple[str, float]]:
    """(label, ms) of each target, fractions resolved on the table's prediction for the dense model."""
    if not targets:
        return []
    dense = dense_predicted_ms(table_path, fmt) if table_path else None
    return [(t.strip().lower().removesuffix("ms"), parse_target(t, dense)) for t in targets]
