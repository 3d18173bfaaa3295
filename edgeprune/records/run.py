"""run.json: what a finished run is (trained or pruned), read and written through one record."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, bounded, extra_field, fraction, one_of
from .pruning import PruningRecord


@dataclass
class ParentRef(Record):
    """The run a pruned run came from, with its scores before pruning."""

    WHAT = "parent reference"
    name: str
    path: str | None = None
    val_accuracy: float | None = fraction()
    test_accuracy: float | None = fraction()
    params: int | None = None
    test_correct: str | None = None  # paired_accuracy.pack: which test images the parent got right
    extra: dict = extra_field()


@dataclass
class ControlScores(Record):
    """The fair control: the unpruned parent fine-tuned exactly as the pruned model was."""

    WHAT = "control"
    val_accuracy: float | None = fraction()
    test_accuracy: float | None = fraction()
    epochs_run: int | None = None
    bn_recalibration: dict | None = None
    test_correct: str | None = None
    extra: dict = extra_field()


@dataclass
class RunRecord(Record):
    TOP = True
    VERSION = 2  # 1: edgeprune 0.1.0 (no "version" key)
    WHAT = "run record"
    kind: str = one_of("train", "prune", "import")
    image_size: int = bounded(8, 1024)
    name: str = ""
    finished: str = ""
    method: str = "none"  # the pruning method (methods registry); "none" for a trained run
    arch: str | None = None
    widths: list[int] | None = None
    dense: int | None = None
    classes: list[str] = field(default_factory=list)
    data: dict | None = None
    parent: ParentRef | None = None
    options: dict = field(default_factory=dict)
    val_accuracy: float | None = fraction()
    test_accuracy: float | None = fraction()
    pruning: PruningRecord = field(default_factory=PruningRecord)  # what each pruning step did (records/pruning.py)
    sparsity: float | None = fraction()
    params: int | None = None
    nonzero_params: int | None = None
    macs: int | None = None
    macs_before: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    history: dict = field(default_factory=dict)
    seconds: float | None = None
    bn_recalibration: dict | None = None
    control: ControlScores | None = None
    vs_control: dict | None = None  # pruned minus control: accuracies, and "test_paired" (paired_accuracy)
    scratch: dict | None = None  # the scratch twin (pruning/scratch.py): its scores, epochs, budget and MACs spent
    vs_scratch: dict | None = None  # pruned minus scratch twin, paired like vs_control
    lr_rewind: dict | None = None  # --lr-schedule rewind: the parent's rates as replayed ("mode", "rates")
    test_correct: str | None = None  # paired_accuracy.pack: which test images this model got right
    resumed: bool | None = None
    split_hash: str | None = None
    versions: dict = field(default_factory=dict)
    distillation: dict | None = None  # the teacher (name, path, test accuracy), alpha and temperature
    source: dict | None = None  # an imported run: the file, its format, sha256 and preprocessing
    warning: str | None = None  # what a reader of the run should know (an import that scores near chance)
    extra: dict = extra_field()
