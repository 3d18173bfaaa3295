"""The architectures edgeprune trains: the study's compact CNN, the CIFAR ResNet-20 and two transfer baselines.

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
ARCHS = ("cnn", "resnet20", "mobilenetv2", "efficientnetb0")


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


def build_resnet20(num_classes: int, image_size: int, widths: Sequence[int] = (16, 32, 64), blocks: int = 3,
                   name: str = "edgeprune_resnet20") -> keras.Model:
    """The CIFAR ResNet (He et al. 2016, section 4.2): a 3x3 conv, three stages of ``blocks`` basic blocks
    (conv3x3-BN-ReLU, conv3x3-BN, added to the shortcut, ReLU) at 16/32/64 channels, the later stages starting with
    stride 2; where the shape changes the shortcut is a 1x1 conv + BN. Global average pooling and softmax."""
    if image_size < 4:
        raise UserError(f"--image-size {image_size} is too small for ResNet-20's two stride-2 stages (minimum 4)")
    L = keras.layers

    def conv_bn(x, filters, strides, kernel, prefix):
        x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal",
                     name=f"{prefix}_conv")(x)
        return L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_bn")(x)

    inp = keras.Input((image_size, image_size, 3), name="image")
    x = L.Rescaling(1.0 / 255, name="rescale")(inp)
    x = L.ReLU(name="stem_relu")(conv_bn(x, widths[0], 1, 3, "stem"))
    for s, filters in enumerate(widths):
        for b in range(blocks):
            strides = 2 if s > 0 and b == 0 else 1
            p = f"stage{s + 1}_block{b + 1}"
            y = L.ReLU(name=f"{p}_relu1")(conv_bn(x, filters, strides, 3, f"{p}_1"))
            y = conv_bn(y, filters, 1, 3, f"{p}_2")
            short = conv_bn(x, filters, strides, 1, f"{p}_short") if strides != 1 or x.shape[-1] != filters else x
            x = L.ReLU(name=f"{p}_out")(L.Add(name=f"{p}_add")([short, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out, name=name)


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
    if w is None:
        # Keras' applications keep BatchNorm's moving statistics with momentum 0.99-0.999, made for long ImageNet runs:
        # trained from scratch for a few epochs, the statistics stay far behind the weights and the model scores
        # chance at evaluation while it learns in training (measured: MobileNetV2 at 64 px, 16.67 % val after 4
        # epochs at 49 % train accuracy). edgeprune's own models use BN_MOMENTUM; pretrained weights keep theirs.
        for layer in base.layers:
            if isinstance(layer, L.BatchNormalization):
                layer.momentum = BN_MOMENTUM
    x = base(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop_head")(x)
    out = L.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out, name=f"edgeprune_{arch}")


def build(arch: str, num_classes: int, image_size: int, widths: Sequence[int] = STUDY_WIDTHS, dense: int = STUDY_DENSE,
          weights: str = "none") -> keras.Model:
    if arch == "cnn":
        return build_cnn(num_classes, image_size, widths, dense)
    if arch == "resnet20":
        return build_resnet20(num_classes, image_size)
    return build_transfer(arch, num_classes, image_size, weights)
