"""Pruning-schedule arithmetic, derived from the dataset size so the target is reached on any dataset.

tfmot's default frequency (every 100 steps) leaves a small dataset unpruned: with 4 steps per epoch a
30-epoch run never reaches step 100 at the right phase. Here the mask is updated a few times per epoch,
the schedule ends inside the first two thirds of the fine-tuning, and ``end_step`` is a multiple of the
frequency after ``begin_step`` so the final mask update really happens (tfmot prunes at step s only when
``(s - begin) % frequency == 0`` and ``begin <= s <= end``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ...errors import UserError
from ...options.prune import check_schedule as check_options

MIN_PRUNING_STEPS = 2


@dataclass(frozen=True)
class SchedulePlan:
    kind: str  # polynomial | constant
    initial_sparsity: float
    target_sparsity: float
    steps_per_epoch: int
    epochs: int
    begin_step: int
    end_step: int
    frequency: int
    prune_epochs: int  # early stopping waits until these epochs are done

    def to_dict(self) -> dict:
        return asdict(self)


def plan_schedule(n_train: int, batch_size: int, epochs: int, target: float, initial: float = 0.3,
                  kind: str = "polynomial", prune_fraction: float = 2 / 3) -> SchedulePlan:
    check_options(target, initial, kind, epochs)
    if n_train < 1:
        raise UserError("the run's training split is empty")
    spe = max(1, math.ceil(n_train / batch_size))
    prune_epochs = max(1, min(epochs, round(epochs * prune_fraction)))
    window = prune_epochs * spe  # steps 0 .. window-1 are inside the pruning phase
    if window < MIN_PRUNING_STEPS:
        # measured with tfmot 0.8.1: a schedule of one step (step 0) never updates the mask, and sparsity stays 0
        raise UserError(f"too few steps for the pruning schedule: {n_train} training images at --batch-size {batch_size} "
                        f"give {spe} step(s) per epoch, and the schedule runs over {prune_epochs} epoch(s), "
                        f"{window} step(s); it needs at least {MIN_PRUNING_STEPS}. Use more --epochs or a smaller --batch-size")
    frequency = max(1, min(100, spe // 2))
    end_step = ((window - 1) // frequency) * frequency
    if kind == "polynomial" and end_step == 0:
        kind, initial = "constant", target  # a single step: nothing to ramp over
    return SchedulePlan(kind, initial if kind == "polynomial" else target, target, spe, epochs, 0, end_step,
                        frequency, prune_epochs)


def make_schedule(plan: SchedulePlan):
    from ..tf import tfmot

    s = tfmot().sparsity.keras
    if plan.kind == "constant":
        return s.ConstantSparsity(plan.target_sparsity, begin_step=plan.begin_step, end_step=plan.end_step,
                                  frequency=plan.frequency)
    return s.PolynomialDecay(initial_sparsity=plan.initial_sparsity, final_sparsity=plan.target_sparsity,
                             begin_step=plan.begin_step, end_step=plan.end_step, power=3, frequency=plan.frequency)
