"""optimize.json (`edgeprune optimize`): the budget, every candidate file with its prediction and what the device
measured, the pick and why each other candidate lost."""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, bounded, extra_field, fraction, one_of
from .bench import MAX_MS

STATES = ("planned", "handed off", "done")
# why a candidate is not the pick
LOST = ("over budget", "over size", "not resolved", "below min accuracy", "less accurate", "tie", "not measured",
        "failed")


@dataclass
class OptimizeCandidate(Record):
    """One file of one candidate (a cell of the optimize's sweep, in one format)."""

    WHAT = "optimize candidate"
    key: str  # <cell>/<file>, as a bench row names it
    cell: str
    file: str
    format: str
    method: str
    options: dict = field(default_factory=dict)  # what makes the candidate (method, ratio, target, sparsity, epochs)
    predicted_ms: float | None = bounded(0.0, MAX_MS, None)
    predicted_bytes: int | None = None
    measured: bool = False  # benched (a candidate predicted far over the budget is not)
    p50_ms: float | None = bounded(0.0, MAX_MS, None)
    p50_ci: list[float] | None = bounded(0.0, MAX_MS, None)
    bytes: int | None = None
    gzip_bytes: int | None = None
    accuracy: float | None = fraction()  # of the file on the test set (as benched; else as exported)
    test_correct: str | None = None  # paired_accuracy.pack: the file's own predictions, else its run's
    vs_pick: dict | None = None  # this minus the pick, paired (PairedDifference.to_dict)
    vs_scratch: dict | None = None  # the run's pruned minus its scratch twin, when one was trained
    lost: str | None = one_of(*LOST, default=None)
    why: str | None = None  # the lost reason in words, with its figures
    # files of the same graph (the same ops on tensors of the same shapes and types; only weights differ) compute the
    # same thing at the same cost: their rounds are pooled into one p50 and interval (``p50_ms``, ``p50_ci``)
    timed_with: list[str] | None = None  # the other candidates pooled with this one
    own_p50_ms: float | None = bounded(0.0, MAX_MS, None)  # this file's rounds alone
    own_p50_ci: list[float] | None = bounded(0.0, MAX_MS, None)
    extra: dict = extra_field()


@dataclass
class OptimizeRecord(Record):
    KIND = "edgeprune-optimize"
    TOP = True
    VERSION = 1
    WHAT = "optimize result"
    run: str
    max_ms: float = bounded(1e-9, MAX_MS)
    state: str = one_of(*STATES, default="planned")
    options: dict = field(default_factory=dict)  # the recorded OptimizeOptions
    max_kb: float | None = None
    min_accuracy: float | None = fraction()
    threads: int | None = None  # the table's, at which every candidate is timed
    table_device: dict | None = None
    device: dict | None = None  # where the candidates were timed
    measured_by: str | None = None  # local, ray:<resource> or the bench file handed back
    candidates: list[OptimizeCandidate] = field(default_factory=list)
    pick: str | None = None  # a candidate's key
    pick_file: str | None = None  # the pick's .tflite, relative to the result folder
    tie: bool = False
    tied_with: list[str] = field(default_factory=list)
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time of the optimize calls that trained and timed
    cells_seconds: float | None = None  # the cells' own seconds, summed
    extra: dict = extra_field()

    def candidate(self, key: str) -> OptimizeCandidate | None:
        return next((c for c in self.candidates if c.key == key), None)
