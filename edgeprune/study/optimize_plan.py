"""The plan of `edgeprune optimize` (no TensorFlow): the candidates a latency table predicts could meet the budget,
with their predicted latency and size per format, and the time they will take.

Candidates: the dense model and the fine-tuned control in every format; uniform filter ratios bracketing the budget
(the ratio whose prediction is just under it and the one just over, per format); widths chosen for the budget on
each format's table (`--target-ms`); weight sparsity (or filters and sparsity together) where a size budget binds.
Predictions only choose what to train and time: the pick rests on what the device measures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import formats
from ..errors import UserError
from ..latency.budget import parse_target
from ..latency.model import LatencyModel, describe
from ..options.prune import layer_floor, uniform_widths
from ..records import LatencyTable
from .cells import Cell

RATIOS = [round(0.05 * k, 2) for k in range(1, 20)]  # uniform filter ratios tried against the table
SPARSITIES = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]  # weight sparsities tried against a size budget
MARGIN = 1.5  # a candidate predicted up to this many times the budget is still timed (tables err)
START_S = 0.4  # a bench file's process start per round (README, `bench`: rounds x files x (min-time + 0.4 s))


@dataclass
class Planned:
    cell: Cell
    kind: str  # dense, control, uniform, target, weight, hybrid
    latency_format: str = "fp32"  # target cells: the table rows the widths are chosen on
    hybrid_ratio: float = 0.3
    predicted_ms: dict[str, float] = field(default_factory=dict)
    predicted_bytes: dict[str, int] = field(default_factory=dict)
    about: dict = field(default_factory=dict)  # what the candidate is, in the words of its options

    @property
    def key(self) -> str:
        return self.cell.key


@dataclass
class Plan:
    max_ms: float
    max_ms_text: str
    max_kb: float | None
    formats: list[str]
    dense_ms: dict[str, float]
    threads: int | None
    device: str
    round_to: int
    cells: list[Planned]
    train_s: float | None
    bench_s: float | None

    def candidates(self) -> list[tuple[Planned, str]]:
        return [(p, f) for p in self.cells for f in self.formats]

    def worth_timing(self, p: Planned, fmt: str) -> bool:
        return p.predicted_ms.get(fmt, math.inf) <= MARGIN * self.max_ms

    def fastest(self) -> tuple[Planned, str]:
        return min(self.candidates(), key=lambda pf: pf[0].predicted_ms.get(pf[1], math.inf))


def _keep(full: dict[str, int], widths: dict[str, int]) -> float:
    return sum(widths.values()) / max(1, sum(full.values()))


def predicted_bytes(params: int | None, fmt: str, keep: float = 1.0, sparsity: float = 0.0) -> int | None:
    """A file's size from its parameters: a conv's weights shrink with both widths (keep^2), each stored nonzero
    weight costs the format's bytes, a zero costs its mask's entropy."""
    if not params:
        return None
    n = params * keep * keep
    h = 0.0 if sparsity in (0.0, 1.0) else -(sparsity * math.log2(sparsity) + (1 - sparsity) * math.log2(1 - sparsity))
    return int(n * ((1 - sparsity) * formats.FORMATS[fmt].bytes_per_weight + h / 8))


def make_plan(o, table: LatencyTable, params: int | None, seconds_per_epoch: float | None) -> Plan:
    lats = {f: LatencyModel(table, f) for f in o.formats}  # a format the table lacks is a one-line error here
    full = lats[o.formats[0]].widths
    round_to = o.round_to or table.probe.round_to or 1
    dense = {f: lat.predict(full) for f, lat in lats.items()}
    max_ms = parse_target(o.max_ms, dense[o.formats[0]])
    uniform = {r: uniform_widths(full, r, round_to) for r in RATIOS}
    uniform = {r: w for r, w in uniform.items() if w != full}  # a ratio too small for the rounding removes nothing
    cells: list[Planned] = []

    def add(p: Planned, widths: dict[str, int] | None, keep: float = 1.0, sparsity: float = 0.0):
        for f, lat in lats.items():
            p.predicted_ms.setdefault(f, lat.predict(widths) if widths is not None else dense[f])
            b = predicted_bytes(params, f, keep, sparsity)
            if b is not None:
                p.predicted_bytes[f] = b
        if all(c.key != p.key for c in cells):
            cells.append(p)

    add(Planned(Cell("dense", "none", None, finetune=False), "dense", about={"method": "none", "fine_tuned": False}), full)
    add(Planned(Cell(f"control-ft{o.epochs}", "none", None), "control",
                about={"method": "none", "epochs": o.epochs}), full)
    under: dict[str, float] = {}  # per format: the smallest uniform ratio predicted to meet the budget
    for f, lat in lats.items():
        if dense[f] <= max_ms:
            continue
        preds = {r: lat.predict(w) for r, w in uniform.items()}
        meet = [r for r in preds if preds[r] <= max_ms]
        bracket = []
        if meet:
            under[f] = meet[0]
            bracket.append(meet[0])
            over = [r for r in preds if r < meet[0] and preds[r] > max_ms]
            if over:
                bracket.append(over[-1])
        elif preds:
            bracket.append(min(preds, key=lambda r: (preds[r], -r)))  # the fastest uniform model, for the error
        for r in bracket:
            w = uniform[r]
            add(Planned(Cell(f"filter-{round(100 * r):02d}", "filter", r), "uniform",
                        about={"method": "filter", "ratio": r, "scope": "uniform", "round_to": round_to,
                               "epochs": o.epochs}), w, _keep(full, w))
        floor = {n: layer_floor(w, round_to) for n, w in full.items()}
        if lat.predict(floor) <= max_ms:  # the greedy widths for this format's table
            near = uniform.get(under.get(f, RATIOS[-1]), full)
            p = Planned(Cell(f"filter-t{max_ms:.4g}ms-{f}", "filter", None, target_ms=max_ms), "target",
                        latency_format=f, about={"method": "filter", "target_ms": max_ms, "scope": "global",
                                                 "latency_format": f,
                                                 "round_to": round_to, "epochs": o.epochs})
            p.predicted_ms[f] = max_ms  # at most: the widths are chosen until the prediction is within it
            add(p, near, _keep(full, near))
    if o.max_kb is not None:
        _add_sparse(o, cells, add, dense, max_ms, params, full, uniform, under)
    plan = Plan(max_ms, o.max_ms, o.max_kb, list(o.formats), dense, table.threads, describe(table), round_to, cells,
                None, None)
    best, fmt = plan.fastest()
    if best.predicted_ms[fmt] > max_ms:
        raise UserError(f"--max-ms {o.max_ms} ({max_ms:.4g} ms) is below what any candidate is predicted to reach: the "
                        f"fastest is {best.key} in {fmt}, {best.predicted_ms[fmt]:.4g} ms predicted on {plan.device}")
    trained = [p for p in cells if p.cell.finetune]
    if seconds_per_epoch:
        plan.train_s = seconds_per_epoch * o.epochs * len(trained) * (2 if o.scratch else 1)
    timed = sum(plan.worth_timing(p, f) for p, f in plan.candidates())
    plan.bench_s = o.rounds * timed * (o.min_time_s + START_S)
    return plan


def _add_sparse(o, cells, add, dense, max_ms, params, full, uniform, under) -> None:
    """Weight sparsity where the size budget binds: on the dense widths when the dense model meets the latency
    budget in some format, else on the widths of the uniform ratio that meets it (hybrid)."""
    limit = o.max_kb * 1024
    fits = [(p, f) for p in cells for f in o.formats
            if p.predicted_ms.get(f, math.inf) <= max_ms and p.predicted_bytes.get(f, math.inf) <= limit]
    if fits or not params:
        return
    fast = [f for f in o.formats if dense[f] <= max_ms]
    if fast:
        fmt, keep, ratio = min(fast, key=lambda f: formats.FORMATS[f].bytes_per_weight), 1.0, None
    elif under:
        fmt = min(under, key=lambda f: formats.FORMATS[f].bytes_per_weight)
        ratio = under[fmt]
        keep = _keep(full, uniform[ratio])
    else:
        return
    ok = [s for s in SPARSITIES if predicted_bytes(params, fmt, keep, s) <= limit]
    if not ok:
        smallest = predicted_bytes(params, fmt, keep, SPARSITIES[-1])
        raise UserError(f"--max-kb {o.max_kb:g} is below what any candidate is predicted to reach: the smallest is "
                        f"{fmt} at {SPARSITIES[-1]:.0%} sparsity, about {smallest / 1024:.1f} kB")
    i = SPARSITIES.index(ok[0])
    for s in SPARSITIES[i:i + 2]:  # the sparsity predicted to fit, and the next, since sizes are estimates
        if ratio is None:
            add(Planned(Cell(f"weight-{round(100 * s):02d}", "weight", s), "weight",
                        about={"method": "weight", "sparsity": s, "epochs": o.epochs}), None, 1.0, s)
        else:
            w = uniform[ratio]
            add(Planned(Cell(f"hybrid-{round(100 * ratio):02d}-{round(100 * s):02d}", "hybrid", s), "hybrid",
                        hybrid_ratio=ratio, about={"method": "hybrid", "ratio": ratio, "sparsity": s,
                                                   "epochs": o.epochs}), w, keep, s)
