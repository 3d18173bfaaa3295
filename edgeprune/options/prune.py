"""The options of `edgeprune prune`, declared once: the CLI, sweeps (``sweep=True``: set for every cell) and run.json's
recorded ``options`` all come from these fields."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UserError
from . import opt


class DenseFraction(float):
    """``--target-ms 0.5x``: a fraction of the dense model's latency as its table predicts it; ``pruner.resolve_target``
    turns it into milliseconds before any work, so a run records milliseconds."""


def parse_target_ms(text: str | None) -> float | None:
    """--target-ms (and optimize's --max-ms): milliseconds ('1.2', '1.2ms') or a fraction of the dense model's
    predicted latency ('0.5x', a DenseFraction)."""
    if text is None:
        return None
    t = str(text).strip().lower()
    try:
        if t.endswith("x"):
            v = float(t[:-1])
            if not 0 < v <= 1:
                raise ValueError
            return DenseFraction(v)
        v = float(t.removesuffix("ms"))
        if not (math.isfinite(v) and v > 0):
            raise ValueError
        return v
    except ValueError:
        raise UserError(f"--target-ms takes fractions of the dense model's predicted latency up to 1 (0.5x) or "
                        f"milliseconds (1.2), got {text!r}") from None


@dataclass
class PruneOptions:
    method: str = opt(help="The pruning method (the CLI lists the registered ones).")
    sparsity: float | None = opt(None, kind=float, help="Target fraction of zero weights (weight, hybrid).")
    initial_sparsity: float = opt(0.3, help="Start of the polynomial schedule.")
    schedule: str = opt("polynomial", help="polynomial or constant.")
    ratio: float | None = opt(None, kind=float, help="Fraction of filters to remove per layer (filter, hybrid).")
    criterion: str = opt("l1", sweep=True, help="Filter importance: l1, l2, bn, random or taylor (|w * gradient| on a few training batches).")
    scope: str = opt("uniform", help="uniform (same ratio per layer) or global (rank all filters together); with "
                     "--target-ms: the one ratio that meets it, or widths by importance per millisecond.")
    round_to: int = opt(1, sweep=True, help="Keep filter counts at multiples of N (8 suits XNNPACK).")
    sensitivity: str | None = opt(None, kind=str, help="Per-layer ratios from `edgeprune sensitivity` output.")
    max_drop: float = opt(0.02, help="With --sensitivity: largest accepted val accuracy drop per layer.")
    skip_first: bool = opt(False, help="Keep the first prunable layer dense.")
    skip_last: bool = opt(False, help="Keep the classifier dense.")
    layers: list[str] | None = opt(None, items=str, help="Comma-separated layer names to prune (weight).")
    epochs: int = opt(30, sweep=True, help="Fine-tuning epochs.")
    # the budget study's recipe (BENCHMARKS.md, "The fine-tuning budget"): filter-50 fine-tuned 30 epochs at 1e-3 with
    # early stopping off scored 3.6 points above the former defaults (1e-4, patience 5), paired on the same images
    lr: float = opt(1e-3, sweep=True, help="Fine-tuning learning rate (AdamW).")
    batch_size: int = opt(64, sweep=True, help="Batch size of the fine-tuning.")
    patience: int = opt(0, help="Early stopping patience (after the schedule ends); 0: off, every epoch runs.")
    augment: str | None = opt(None, kind=str, help="Augmentation (default: the parent run's).")
    lr_schedule: str = opt("plateau", sweep=True, help="plateau: the rate halves when val_loss stalls; cosine: "
                           "warm-up, then cosine decay to 0; rewind: the parent's own per-epoch rates replayed from "
                           "its start (compressed into fewer epochs).")
    warmup: float = opt(0.05, help="With --lr-schedule cosine: fraction of the steps spent warming up.")
    distill: bool = opt(False, help="The parent run teaches the pruned model while it fine-tunes.")
    teacher: str | None = opt(None, kind=str, help="With --distill: the run that teaches (default: the parent).")
    distill_alpha: float = opt(0.5, sweep=True, help="With --distill: weight of the label loss (the rest: the teacher).")
    temperature: float = opt(4.0, sweep=True, help="With --distill: softmax temperature of teacher and student.")
    steps: int = opt(1, sweep=True, help="filter/hybrid: remove the filters in N cuts, fine-tuning between them "
                     "(the epochs are split; the total stays --epochs).")
    target_ms: float | None = opt(None, parse=parse_target_ms, help="filter: choose per-layer widths for this "
                                  "predicted latency on the device the --latency-table was measured on: milliseconds "
                                  "(1.2) or a fraction of the dense model's (0.5x).")
    latency_table: str | None = opt(None, kind=str, help="With --target-ms: the table (`edgeprune latency measure`).")
    latency_format: str = opt("fp32", flag="--format", help="With --target-ms: the format the target is for.")
    latency_threads: int | None = opt(None, kind=int, flag="--threads", help="With --target-ms: the device's threads "
                                      "(checked against the table).")
    latency_feedback: list[str] = opt(factory=list, repeat=True, flag="--latency-feedback", help=(
        "With --target-ms: `edgeprune bench` JSON from the device of bundles exported from earlier pruned runs of this "
        "model; the one measured nearest the target corrects the table's prediction (repeatable)."))
    control: bool = opt(False, help="Also fine-tune the unpruned model the same way, for a fair comparison.")
    scratch: bool = opt(False, sweep=True, help="Also train the pruned architecture from random weights (the scratch "
                        "twin, early stopping off) for --scratch-budget, and compare: is pruning worth it?")
    scratch_budget: str = opt("flops", sweep=True, help="With --scratch: flops (the parent's training plus the "
                              "fine-tuning, in MACs, as epochs of the small model: Scratch-B) or epochs (the parent's "
                              "epochs: Scratch-E).")
    cluster: int | None = opt(None, kind=int, help="Sparsity-preserving weight clustering to N values per kernel.")
    seed: int = opt(42, help="Seed of the pruning choices and the fine-tuning.")
    out: str | None = opt(None, kind=str, short="-o", records=False,
                          help="Name (in the workspace) or folder of the new run.")
    force: bool = opt(False, records=False, help="Replace an existing run of that name.")


CRITERIA = ("l1", "l2", "bn", "random", "taylor")  # filter importance (workbench/pruning/filters/criteria.py implements each)
SCOPES = ("uniform", "global")
SCHEDULES = ("polynomial", "constant")
SCRATCH_BUDGETS = ("flops", "epochs")


def check_schedule(target: float, initial: float, kind: str, epochs: int) -> None:
    """Weight pruning's schedule options, checked before any model is loaded."""
    if not 0 < target < 1:
        raise UserError(f"--sparsity must be between 0 and 1 (exclusive), got {target}")
    if kind not in SCHEDULES:
        raise UserError(f"--schedule must be polynomial or constant, got {kind!r}")
    if kind == "polynomial" and not 0 <= initial <= target:
        raise UserError(f"--initial-sparsity ({initial}) must be between 0 and --sparsity ({target})")
    if epochs < 1:
        raise UserError("--epochs must be at least 1")


def check_filter_options(ratio: float, scope: str, round_to: int, criterion: str) -> None:
    """Filter removal's options, checked before any model is loaded."""
    if not 0 <= ratio < 1:
        raise UserError(f"--ratio must be in [0, 1), got {ratio}")
    if scope not in SCOPES:
        raise UserError(f"--scope must be uniform or global, got {scope!r}")
    if round_to < 1:
        raise UserError("--round-to must be at least 1")
    if criterion not in CRITERIA:
        raise UserError(f"unknown --criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def layer_floor(total: int, multiple: int) -> int:
    """No layer is emptied: keep at least 1 channel, 5 % of the layer, and one SIMD group."""
    return int(min(total, max(1, multiple, math.ceil(0.05 * total))))


def round_width(n_keep: float, total: int, multiple: int, floor: int) -> int:
    """Kept width: a multiple of ``multiple`` (nearest), at least ``floor``, at most ``total``."""
    k = max(floor, int(math.ceil(n_keep - 1e-9)))
    if multiple > 1:
        k = max(multiple, int(round(k / multiple)) * multiple)
    return int(min(total, max(1, k)))


def uniform_widths(full: dict[str, int], ratio: float, round_to: int) -> dict[str, int]:
    """Each layer's kept width at one ratio for every layer, rounded as filter pruning rounds it."""
    return {n: round_width(w * (1 - ratio), w, round_to, layer_floor(w, round_to)) for n, w in full.items()}
