"""Pruning's TensorFlow side: the prune command, tfmot weight pruning and its schedule, measured
sparsity, clustering, sensitivity, and filter removal (``filters``)."""
