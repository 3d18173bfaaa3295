"""Magnitude (weight) pruning with tfmot: wrap layer by layer, fine-tune on a schedule, strip, measure."""
from __future__ import annotations

from ...errors import UserError
from ...progress import Reporter
from ..tf import keras, tfmot
from ..training.fit import FitConfig, FitResult, fit
from .schedule import SchedulePlan, make_schedule


def wrap_for_pruning(model: keras.Model, layer_names: list[str], plan: SchedulePlan) -> keras.Model:
    """Clone the model, wrapping only the chosen layers.

    ``prune_low_magnitude(model)`` refuses models holding layers it does not know (a ``Rescaling`` layer:
    "Please initialize `Prune` with a supported layer"); wrapping layer by layer avoids that and lets the user
    keep sensitive layers dense.
    """
    sk = tfmot().sparsity.keras
    schedule = make_schedule(plan)
    chosen = set(layer_names)

    def clone(layer):
        if layer.name in chosen:
            return sk.prune_low_magnitude(layer.__class__.from_config(layer.get_config()), pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    wrapped = keras.models.clone_model(model, clone_function=clone)
    for src, dst in zip(model.layers, wrapped.layers):
        target = getattr(dst, "layer", dst)
        target.set_weights(src.get_weights())
    return wrapped


def prune_and_finetune(model: keras.Model, data, layer_names: list[str], plan: SchedulePlan, cfg: FitConfig,
                       reporter: Reporter, teacher: keras.Model | None = None) -> tuple[keras.Model, FitResult]:
    sk = tfmot().sparsity.keras
    wrapped = wrap_for_pruning(model, layer_names, plan)
    cfg = FitConfig(**{**cfg.__dict__, "min_epochs": plan.prune_epochs})
    result = fit(wrapped, data, cfg, reporter=reporter, callbacks=[sk.UpdatePruningStep()], teacher=teacher)
    stripped = sk.strip_pruning(wrapped)
    if stripped is wrapped:
        raise UserError("strip_pruning returned the wrapped model; nothing was pruned")
    return stripped, result
