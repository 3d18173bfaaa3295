"""A bundle's export.json (one row per TFLite file) and model.json (the model card)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, extra_field, fraction, matching
from .pruning import PruningRecord
from .run import ControlScores

FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"


@dataclass
class ExportRow(Record):
    WHAT = "export row"
    file: str = matching(FILE_NAME)  # a plain name inside the bundle, never a path
    format: str
    kept: bool
    sparse: bool | None = None
    io: str | None = None
    bytes: int | None = None
    gzip_bytes: int | None = None
    naive_bound_bytes: int | None = None  # nonzero weights x bytes per weight + mask entropy (gzip can beat it)
    entropy_floor_bytes: int | None = None  # mask entropy + order-0 entropy of the stored nonzero values
    gzip_over_entropy_floor: float | None = None
    accuracy: float | None = fraction()
    agreement: float | None = fraction()
    accuracy_change: float | None = None
    agreement_reference: float | None = fraction()
    runs_xnnpack: bool = False
    runs_reference: bool = False
    input: dict | None = None
    error: str | None = None
    note: str | None = None
    extra: dict = extra_field()

    def check(self, where: str) -> None:
        if self.naive_bound_bytes is None and isinstance(self.extra.get("floor_bytes"), int):
            self.naive_bound_bytes = self.extra.pop("floor_bytes")  # its name in versions 1 and 2
            self.extra.pop("gzip_over_floor", None)
        if ".." in self.file:
            from ..errors import UserError

            raise UserError(f"{where}: 'file' must be a plain file name, got {self.file!r}")


@dataclass
class ExportRecord(Record):
    KIND = "edgeprune-export"
    TOP = True
    VERSION = 3  # 3: naive_bound_bytes (was floor_bytes) and entropy_floor_bytes
    WHAT = "export file"
    run: str | None = None
    keras_test_accuracy: float | None = fraction()
    n_test: int | None = None
    measured_sparsity: float | None = fraction()
    sparse_mode: str | None = None
    edgeprune: str | None = None
    files: list[ExportRow] = field(default_factory=list)
    extra: dict = extra_field()

    def kept(self) -> list[ExportRow]:
        return [r for r in self.files if r.kept]


@dataclass
class SourceRun(Record):
    """What the model card says of the run a bundle was exported from."""

    WHAT = "source run"
    name: str | None = None
    path: str | None = None
    kind: str | None = None
    arch: str | None = None
    method: str | None = None
    parent: str | None = None
    params: int | None = None
    nonzero_params: int | None = None
    macs: int | None = None
    val_accuracy: float | None = fraction()
    test_accuracy: float | None = fraction()
    sparsity: float | None = fraction()
    pruning: PruningRecord | None = None
    control: ControlScores | None = None
    split_hash: str | None = None
    options: dict | None = None  # the run's recorded options (distillation, schedule, steps, epochs)
    vs_control: dict | None = None
    scratch: dict | None = None
    vs_scratch: dict | None = None
    test_correct: str | None = None
    extra: dict = extra_field()


@dataclass
class ModelCard(Record):
    TOP = True
    VERSION = 2
    WHAT = "model card"
    classes: list[str] = field(default_factory=list)
    input: dict | None = None
    files: dict = field(default_factory=dict)
    source_run: SourceRun | None = None
    keras_test_accuracy: float | None = fraction()
    measured_sparsity: float | None = fraction()
    versions: dict = field(default_factory=dict)
    created: str | None = None
    extra: dict = extra_field()
