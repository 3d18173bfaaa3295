"""Scoring a Keras model on decoded arrays."""
from __future__ import annotations

import numpy as np

from ..tf import keras, tf


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities, inference mode, in batches."""
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    fn = tf.function(lambda a: model(a, training=False), reduce_retracing=True)
    outs = [fn(tf.constant(x[i : i + batch_size], tf.float32)).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)


def correct(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Which images the model gets right (top-1), in order."""
    return np.argmax(predict(model, x, batch_size), axis=1) == np.asarray(y)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    if len(y) == 0:
        return float("nan")
    return float(np.mean(correct(model, x, y, batch_size)))
