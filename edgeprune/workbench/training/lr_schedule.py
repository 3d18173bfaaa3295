"""Learning-rate schedules for fitting: ``plateau`` (the rate is halved when val_loss stalls), ``cosine`` (a linear
warm-up over the first ``warmup`` fraction of the steps, then cosine decay to zero at the last step) and ``rewind``
(the parent's own per-epoch rates, recorded in its run.json, replayed from its start: Renda et al.'s learning-rate
rewinding)."""
from __future__ import annotations

import math

from ...errors import UserError
from ..tf import keras

LR_SCHEDULES = {
    "plateau": "the given rate, halved when val_loss stops improving",
    "cosine": "linear warm-up, then cosine decay from the given rate to 0 over the epochs",
    "rewind": "the parent's recorded per-epoch rates, replayed from its first epoch (compressed to fewer epochs)",
}


def rewind_rates(parent_rates: list[float], epochs: int) -> tuple[list[float], str]:
    """The rates of ``epochs`` fine-tuning epochs from the parent's per-epoch rates: with as many epochs or more,
    the parent's schedule replayed whole, then its last rate held ("replayed"); with fewer, the schedule compressed
    (epoch i takes the parent's rate at the same fraction of its training, "compressed")."""
    n = len(parent_rates)
    if n == 0:
        raise UserError("--lr-schedule rewind needs the parent's per-epoch rates, and it recorded none")
    if epochs >= n:
        return [float(r) for r in parent_rates] + [float(parent_rates[-1])] * (epochs - n), "replayed"
    return [float(parent_rates[(i * n) // epochs]) for i in range(epochs)], "compressed"


class EpochRates(keras.callbacks.Callback):
    """Sets the rate at the start of every epoch from a list (a resumed fit continues where it was)."""

    def __init__(self, rates: list[float]):
        super().__init__()
        self.rates = rates

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rates[min(epoch, len(self.rates) - 1)])


def check_lr_schedule(name: str, warmup: float) -> None:
    if name not in LR_SCHEDULES:
        raise UserError(f"unknown --lr-schedule {name!r}; choose one of {', '.join(LR_SCHEDULES)}")
    if not (math.isfinite(warmup) and 0 <= warmup < 1):
        raise UserError(f"--warmup must be a fraction of the steps in [0, 1), got {warmup}")


def cosine_rate(step: int, total: int, lr: float, warmup: float) -> float:
    """The rate at ``step`` (0-based) of ``total``."""
    total = max(1, total)
    w = int(round(warmup * total))
    if step < w:
        return lr * (step + 1) / w
    progress = min(1.0, (step - w) / max(1, total - w))
    return 0.5 * lr * (1.0 + math.cos(math.pi * progress))


class CosineWarmup(keras.callbacks.Callback):
    """Sets the rate before every batch from the global step, so a resumed fit continues the same curve."""

    def __init__(self, lr: float, steps_per_epoch: int, epochs: int, warmup: float):
        super().__init__()
        self.lr, self.steps_per_epoch, self.total, self.warmup = lr, steps_per_epoch, steps_per_epoch * epochs, warmup
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        self.model.optimizer.learning_rate.assign(cosine_rate(step, self.total, self.lr, self.warmup))
