"""The scratch twin: the pruned model's exact architecture trained from random initialisation, on the same split and
augmentation, for a fixed budget with early stopping off (Liu et al., ICLR 2019, "Rethinking the value of network
pruning"). Pruning is worth its cost only where the pruned model beats its twin.

Budgets (``--scratch-budget``):
- ``flops`` (Scratch-B): the compute the pruned model's lineage spent — the parent's training epochs at the parent's
  MACs per image, plus the fine-tuning epochs at the pruned model's — divided by the pruned model's MACs per image;
  so a smaller model gets more epochs.
- ``epochs`` (Scratch-E): as many epochs as the parent was trained for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ..tf import keras, tf

from ...options.prune import SCRATCH_BUDGETS as BUDGETS
MAX_SCRATCH_EPOCHS = 1000


@dataclass(frozen=True)
class ScratchBudget:
    epochs: int
    budget: str
    macs_spent: int  # MACs per training image, summed over the epochs (what the twin gets)
    lineage_macs: int  # the parent's training plus the fine-tuning, in the same unit


def scratch_budget(budget: str, parent_epochs: int | None, parent_macs: int | None, finetune_epochs: int,
                   pruned_macs: int) -> ScratchBudget:
    """The twin's epochs under ``budget``; arithmetic only (a test checks it)."""
    if budget not in BUDGETS:
        raise UserError(f"--scratch-budget must be flops or epochs, got {budget!r}")
    if not parent_epochs or parent_epochs < 1 or not parent_macs or pruned_macs < 1:
        raise UserError("--scratch needs the parent's training epochs and MACs in its run.json (an imported model has "
                        "none: train it with edgeprune, or leave out --scratch)")
    lineage = parent_epochs * parent_macs + finetune_epochs * pruned_macs
    epochs = math.ceil(lineage / pruned_macs - 1e-9) if budget == "flops" else parent_epochs
    epochs = max(1, min(MAX_SCRATCH_EPOCHS, epochs))
    return ScratchBudget(epochs=epochs, budget=budget, macs_spent=epochs * pruned_macs, lineage_macs=lineage)


def twin(model: keras.Model) -> keras.Model:
    """The same architecture, every layer freshly initialised (and no pruning wrapper: the dense layers)."""
    fresh = keras.models.clone_model(model)
    fresh.build(model.input_shape)
    return fresh


def sparsity_masks(model: keras.Model, layers: list[str]) -> dict[str, np.ndarray]:
    """Which kernel weights of the named layers the pruned model kept (nonzero): a weight-pruned model's structure,
    which its scratch twin keeps (Liu et al. train the pruned sparse structure from scratch)."""
    out = {}
    for name in layers:
        kernel = model.get_layer(name).get_weights()[0]
        out[name] = (kernel != 0).astype(kernel.dtype)
    return out


def apply_masks(model: keras.Model, masks: dict[str, np.ndarray]) -> None:
    for name, mask in masks.items():
        layer = model.get_layer(name)
        w = layer.get_weights()
        w[0] = w[0] * mask
        layer.set_weights(w)


class KeepMasks(keras.callbacks.Callback):
    """Zero the masked kernel weights again after every training step, so that the twin trains the pruned model's
    sparse structure (its zeros stay zeros) from its random start."""

    def __init__(self, masks: dict[str, np.ndarray]):
        super().__init__()
        self.masks = masks
        self._vars: list = []

    def on_train_begin(self, logs=None):
        self._vars = [(self.model.get_layer(n).kernel, tf.constant(m)) for n, m in self.masks.items()]

    def on_train_batch_end(self, batch, logs=None):
        for var, mask in self._vars:
            var.assign(var * mask)
