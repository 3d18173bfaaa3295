"""A training checkpoint's state.json: the commit point of an interrupted run, read back as untrusted input."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, bounded, extra_field, matching
from .export import FILE_NAME


@dataclass
class PlateauState(Record):
    WHAT = "early-stopping state"
    patience: int = bounded(0, None)
    lr_patience: int = bounded(0, None)
    lr_factor: float = bounded(0.0, 1.0)
    min_epochs: int = bounded(0, None)
    best: float | None = field(default=None, metadata={"infinite": True})  # inf until the first epoch (JSON: Infinity)
    best_epoch: int = -1
    wait: int = bounded(0, None, 0)
    lr_wait: int = bounded(0, None, 0)
    extra: dict = extra_field()


@dataclass
class CheckpointState(Record):
    TOP = True
    WHAT = "checkpoint state"
    epoch: int = bounded(0, None)
    model_file: str = matching(FILE_NAME)
    plateau: PlateauState
    history: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    best_file: str | None = matching(FILE_NAME, None)
    extra: dict = extra_field()
