"""The options of `edgeprune train`, declared once (the CLI's flags and defaults come from these fields)."""
from __future__ import annotations

from dataclasses import dataclass

from ..records.base import Record, extra_field
from . import opt, shared

STUDY_WIDTHS = (32, 32, 64, 64, 128, 128)  # the study's CNN: two convs per block
STUDY_DENSE = 256


@dataclass
class TrainOptions(Record):
    """The options of `edgeprune train`; kept in the staging folder so --resume continues with the same ones."""

    WHAT = "training options"
    data: str = opt("demo", short="-d", help="Folder of class folders (or train/ and test/), or 'demo'.")
    image_size: int = opt(100, help="Input side in pixels (the study used 100).")
    arch: str = opt("cnn", help="cnn (the study's), resnet20 (the CIFAR ResNet), mobilenetv2 or efficientnetb0.")
    widths: list[int] = opt(factory=lambda: list(STUDY_WIDTHS), items=int,
                            help="Conv widths, two per block (cnn only).")
    dense: int = opt(STUDY_DENSE, help="Width of the hidden Dense layer (cnn only).")
    weights: str = opt("none", help="Transfer weights: imagenet or none.")
    epochs: int = opt(100, help="Most epochs; early stopping usually ends sooner.")
    batch_size: int = opt(64, help="Batch size.")
    lr: float = opt(3e-4, help="AdamW learning rate.")
    patience: int = opt(5, help="Early-stopping patience on val_loss.")
    lr_patience: int = opt(3, help="Epochs without a better val_loss before the rate halves (0: never).")
    augment: str = opt("study", help="study (rotation 20, shift 0.2, flip), light (shift 0.1, flip) or none.")
    seed: int = opt(42, help="Seed of the split and the training.")
    limit_per_class: int | None = opt(None, kind=int, help="Use at most N images per class (quick runs).")
    workspace: str = opt("runs", cli=False)  # the CLI's --workspace
    out: str | None = opt(None, kind=str, short="-o", records=False,
                          help="Run name (in the workspace) or folder (default: <arch>-<time>).")
    force: bool = opt(False, records=False, help="Replace an existing run of that name.")
    extra: dict = extra_field()


@dataclass
class ImportOptions:
    """The options of `edgeprune import`."""

    model: str = opt(argument=True, help="A .keras file (Keras 3 or tf.keras) or a tf.keras .h5 file.")
    data: str = opt(short="-d", help="The dataset to score it on: a folder of class folders (or train/ and test/), "
                    "or 'demo'.")
    image_size: int | None = opt(None, kind=int, help="Input side, when the model takes any size.")
    preprocess: str = opt("rescale", help="What the model expects: rescale ([0, 1]), mobilenet ([-1, 1]), imagenet "
                          "(mean/std) or none (raw 0-255).")
    labels: str | None = opt(None, kind=str, help="A file naming the model's outputs in order, one class per line "
                             "(when they are not the folders' sorted names).")
    seed: int = shared(TrainOptions, "seed", help="Seed of the split.")
    limit_per_class: int | None = shared(TrainOptions, "limit_per_class")
    workspace: str = shared(TrainOptions, "workspace")
    out: str | None = shared(TrainOptions, "out", help="Run name (in the workspace) or folder (default: the file's "
                             "name).")
    force: bool = shared(TrainOptions, "force")
