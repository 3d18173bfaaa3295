"""tf.data input pipelines over decoded uint8 arrays: cache, shuffle, augment, batch, prefetch."""
from __future__ import annotations

import numpy as np

from ...errors import UserError
from ..tf import keras, tf

# (rotation as a fraction of a full turn, shift fraction, horizontal flip)
AUGMENTATIONS = {
    "study": (20 / 360, 0.2, True),  # the study's: rotation 20 degrees, shifts 20 %, flip
    "light": (0.0, 0.1, True),  # better at 32 px (see ../shared/data/README.md)
    "none": None,
}


def augmenter(kind: str, seed: int):
    if kind not in AUGMENTATIONS:
        raise UserError(f"unknown --augment {kind!r}; choose one of {', '.join(AUGMENTATIONS)}")
    spec = AUGMENTATIONS[kind]
    if spec is None:
        return None
    rot, shift, flip = spec
    L = keras.layers
    layers = []
    if flip:
        layers.append(L.RandomFlip("horizontal", seed=seed))
    if rot:
        layers.append(L.RandomRotation(rot, fill_mode="reflect", seed=seed))
    if shift:
        layers.append(L.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed))
    return keras.Sequential(layers, name="augment")


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: str = "none") -> tf.data.Dataset:
    aug = augmenter(augment, seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    ds = ds.shuffle(min(len(x), 20000), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if aug is not None:
        # one batch at a time: the augmentation's random stream is then drawn in batch order, so a --seed repeats
        # (parallel calls draw it in whatever order threads run); prefetch still overlaps it with training
        ds = ds.map(lambda a, b: (tf.cast(aug(tf.cast(a, tf.float32), training=True), tf.float32), b))
    else:
        ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b))
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(2)
