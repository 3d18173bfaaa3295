"""The architectures edgeprune trains: the study's compact CNN and two transfer baselines.

Every model carries its own preprocessing, so exported files take raw 0-255 RGB pixels.
"""
from __future__ import annotations

from typing import Sequence

from ...errors import UserError
from ..tf import keras

from ...options.train import STUDY_DENSE, STUDY_WIDTHS  # noqa: F401  (declared with train's options)
# Keras' default 0.99 lags far behind the weights when an epoch is a handful of steps (small data): validation loss
# is then noise and early stopping fires on it. 0.9 tracks within ~20 steps; bn_recalibration fixes the rest.
BN_MOMENTUM = 0.9
ARCHS = ("cnn", "mobilenetv2", "efficientnetb0")


def check_cnn_shape(widths: Sequence[int], dense: int, image_size: int) -> None:
    """The CNN's shape options, checked before anything is built or written."""
    if len(widths) == 0 or len(widths) % 2:
        raise UserError(f"--widths needs an even number of values (two convs per block), got {list(widths)}")
    if any(w < 1 or w > 16384 for w in widths) or not 1 <= dense <= 65536:
        raise UserError("--widths must be between 1 and 16384 and --dense between 1 and 65536")
    blocks = len(widths) // 2
    if image_size < 2 ** blocks:
        raise UserError(f"--image-size {image_size} is too small for {blocks} pooling blocks (minimum {2 ** blocks})")


def build_cnn(num_classes: int, image_size: int, widths: Sequence[int] = STUDY_WIDTHS, dense: int = STUDY_DENSE,
              name: str = "edgeprune_cnn") -> keras.Model:
    """The study's CNN: blocks of [Conv3x3-BN-ReLU] x 2 + MaxPool + Dropout 0.25, then Dense-BN-ReLU-Dropout, softmax."""
    check_cnn_shape(widths, dense, image_size)
    blocks = len(widths) // 2
    L = keras.layers
    layers = [L.InputLayer(input_shape=(image_size, image_size, 3), name="image"), L.Rescaling(1.0 / 255, name="rescale")]
    for b in range(blocks):
        for k in range(2):
            i = 2 * b + k
            layers += [L.Conv2D(widths[i], 3, padding="same", use_bias=True, name=f"conv{i + 1}"),
                       L.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}"), L.ReLU(name=f"relu{i + 1}")]
        layers += [L.MaxPooling2D(2, name=f"pool{b + 1}"), L.Dropout(0.25, name=f"drop{b + 1}")]
    layers += [L.Flatten(name="flatten"), L.Dense(dense, name="fc1"), L.BatchNormalization(momentum=BN_MOMENTUM, name="bn_fc1"),
               L.ReLU(name="relu_fc1"), L.Dropout(0.5, name="drop_fc1"),
               L.Dense(num_classes, activation="softmax", name="classifier")]
    return keras.Sequential(layers, name=name)


def build_transfer(arch: str, num_classes: int, image_size: int, weights: str = "none") -> keras.Model:
    """MobileNetV2 or EfficientNet-B0 from Keras applications with a new classifier head."""
    if weights not in ("none", "imagenet"):
        raise UserError(f"--weights must be 'imagenet' or 'none', got {weights!r}")
    L = keras.layers
    apps = keras.applications
    inp = keras.Input((image_size, image_size, 3), name="image")
    w = None if weights == "none" else "imagenet"
    try:
        if arch == "mobilenetv2":
            x = L.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
            base = apps.MobileNetV2(include_top=False, weights=w, input_shape=(image_size, image_size, 3))
        elif arch == "efficientnetb0":
            x = inp  # EfficientNet rescales inside
            base = apps.EfficientNetB0(include_top=False, weights=w, input_shape=(image_size, image_size, 3))
        else:
            raise UserError(f"unknown --arch {arch!r}; choose one of {', '.join(ARCHS)}")
    except UserError:
        raise
    except Exception as exc:  # Keras reports a failed weight download as a bare Exception ("URL fetch failure")
        text = str(exc)
        if w == "imagenet" and ("URL fetch failure" in text or isinstance(exc, OSError)):
            raise UserError("cannot download the ImageNet weights (no internet?); use --weights none, "
                            "or put the weights file in ~/.keras/models") from None
        raise UserError(f"{arch} cannot be built at this input size: {text.splitlines()[0] if text else exc.__class__.__name__}") from None
    x = base(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop_head")(x)
    out = L.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out, name=f"edgeprune_{arch}")


def build(arch: str, num_classes: int, image_size: int, widths: Sequence[int] = STUDY_WIDTHS, dense: int = STUDY_DENSE,
          weights: str = "none") -> keras.Model:
    if arch == "cnn":
        return build_cnn(num_classes, image_size, widths, dense)
    return build_transfer(arch, num_classes, image_size, weights)
