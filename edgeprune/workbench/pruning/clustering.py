"""Sparsity-preserving weight clustering (tfmot): each kernel ends with at most N distinct values, zeros kept."""
from __future__ import annotations

import numpy as np

from ...progress import Reporter
from ..graph import prunable_layers
from ..tf import keras, tfmot
from ..training.fit import FitConfig, fit


def cluster_and_finetune(model: keras.Model, data, layer_names: list[str], n_clusters: int, cfg: FitConfig,
                         reporter: Reporter) -> tuple[keras.Model, dict]:
    """Wrap the chosen (built) layers, whose weights seed the centroids; fine-tune briefly; strip and measure.

    The model's layers are re-used by the clone, so pass a model this call may change.
    """
    ck = tfmot().clustering.keras
    chosen = set(layer_names)

    def clone(layer):
        if layer.name in chosen:
            return ck.cluster_weights(layer, number_of_clusters=n_clusters, preserve_sparsity=True,
                                      cluster_centroids_init=ck.CentroidInitialization.KMEANS_PLUS_PLUS)
        return layer

    wrapped = keras.models.clone_model(model, clone_function=clone)
    fit(wrapped, data, cfg, reporter=reporter)
    stripped = ck.strip_clustering(wrapped)
    distinct = {l.name: int(len(np.unique(l.kernel.numpy()))) for l in prunable_layers(stripped) if l.name in chosen}
    return stripped, {"clusters": n_clusters, "distinct_values_per_kernel": distinct, "epochs": cfg.epochs}
