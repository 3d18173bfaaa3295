"""Batch-norm adaptation: re-estimate BatchNorm moving statistics so they match the current weights.

After a short training run on small data, or after pruning shifts the activations, the moving averages (momentum
0.99) lag behind the weights, and a model that is right in training mode scores near chance in inference mode.
This runs the training images through the model with BatchNorm in training mode and sets each layer's moving
mean and variance to the plain average over those batches (a cumulative average, not an exponential one).
Dropout is switched off meanwhile, so the statistics are those inference will see. No weight is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import leaf_layers
from ..tf import keras, tf


@dataclass
class Recalibration:
    layers: int  # BatchNorm layers updated
    images: int  # images used
    val_before: float | None = None
    val_after: float | None = None
    kept: bool = True  # False when the new statistics scored worse and were rolled back

    def to_dict(self) -> dict:
        return {"layers": self.layers, "images": self.images, "val_accuracy_before": self.val_before,
                "val_accuracy_after": self.val_after, "kept": self.kept}


def _all_layers(model):
    return leaf_layers(model, unwrap=True)  # BatchNorm inside nested models and tfmot wrappers too


def recalibrate(model: keras.Model, x: np.ndarray, batch_size: int = 64, max_images: int = 4096, seed: int = 0) -> Recalibration:
    bns = [l for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
    if not bns or len(x) == 0:
        return Recalibration(layers=0, images=0)
    idx = np.random.default_rng(seed).permutation(len(x))[:max_images]
    drops = [l for l in _all_layers(model) if isinstance(l, keras.layers.Dropout)]
    saved_rates = [d.rate for d in drops]
    saved_momentum = [b.momentum for b in bns]
    trainable_vars = {id(v): v.numpy() for v in model.trainable_weights}
    try:
        for d in drops:
            d.rate = 0.0
        for k, start in enumerate(range(0, len(idx), batch_size), start=1):
            for b in bns:
                b.momentum = 1.0 - 1.0 / k  # moving = mean over batches seen so far
            batch = tf.constant(x[idx[start : start + batch_size]], tf.float32)
            model(batch, training=True)
    finally:
        for d, r in zip(drops, saved_rates):
            d.rate = r
        for b, m in zip(bns, saved_momentum):
            b.momentum = m
    for v in model.trainable_weights:  # training-mode calls must not have changed a weight
        assert np.array_equal(v.numpy(), trainable_vars[id(v)]), v.name
    return Recalibration(layers=len(bns), images=len(idx))


def bn_state(model: keras.Model) -> list[np.ndarray]:
    return [w.numpy() for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization) for w in (l.moving_mean, l.moving_variance)]


def set_bn_state(model: keras.Model, state: list[np.ndarray]) -> None:
    ws = [w for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization) for w in (l.moving_mean, l.moving_variance)]
    for w, a in zip(ws, state):
        w.assign(a)


def recalibrate_checked(model: keras.Model, train_x: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, seed: int = 0) -> Recalibration:
    """Recalibrate and keep the new statistics unless they score worse on validation; record both accuracies."""
    from ..metrics.evaluate import accuracy

    before_state = bn_state(model)
    before = accuracy(model, val_x, val_y)
    rec = recalibrate(model, train_x, seed=seed)
    rec.val_before = before
    if rec.layers:
        after = accuracy(model, val_x, val_y)
        rec.val_after = after
        if after < before:
            set_bn_state(model, before_state)
            rec.kept = False
    else:
        rec.val_after = before
    return rec
