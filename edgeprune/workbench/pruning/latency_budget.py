"""Per-layer widths for a latency budget: the least channel importance lost for a predicted latency at most the
target (NetAdapt's greedy steps, on a latency table measured on the device).

From the full model, each step removes ``round_to`` channels from the one layer whose removal loses the least
importance per millisecond saved, until the prediction is within the target. Importance is the filter criterion's
score normalised per layer (as `--scope global` ranks filters); with a sensitivity file, a layer's cost is its
measured validation drop at that ratio instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ...latency_model import LatencyModel
from ...records import SensitivityRecord
from .filters.plan import channel_scores, layer_floor


@dataclass
class BudgetResult:
    widths: dict[str, int]
    predicted_ms: float
    dense_ms: float
    floor_ms: float
    steps: int


def importance_costs(model, criterion: str, seed: int) -> dict[str, np.ndarray]:
    """cost[l][k]: importance lost when layer l keeps k channels (its least important ones go first)."""
    out = {}
    for name, s in channel_scores(model, criterion, seed).items():
        norm = np.sort(s / (s.max() if s.max() > 0 else 1.0))  # ascending: removed first
        removed = np.concatenate([[0.0], np.cumsum(norm)])  # removed[j]: the j least important removed
        out[name] = removed[::-1].copy()  # indexed by kept count k = n - j
    return out


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


def choose_widths(lat: LatencyModel, costs: dict[str, np.ndarray], target_ms: float, round_to: int) -> BudgetResult:
    full = lat.widths
    if set(costs) != set(full):
        raise UserError("the latency table was made for another model: its prunable layers differ from this run's")
    floors = {n: layer_floor(w, round_to) for n, w in full.items()}
    dense_ms, floor_ms = lat.predict(full), lat.predict(floors)
    if floor_ms > target_ms:
        raise UserError(f"--target-ms {target_ms:g} is below what the smallest allowed model reaches: {floor_ms:.3f} ms "
                        f"predicted (dense {dense_ms:.3f} ms) on {_device(lat)}; ask for {floor_ms:.3f} ms or more")
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
    from ...latency_model import describe

    return describe(lat.table)
