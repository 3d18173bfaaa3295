"""What a pruning method's implementation is handed, and what it gives back: no shared mutable context.

``PruneJob`` is read-only: the run's decoded splits, the options, the fine-tuning configuration, the reporter, the
teacher (or None), the workspace and the latency budget (loaded and checked once per prune, or None). ``apply`` returns
an ``Applied``: the pruned model, its typed ``pruning`` record, and how the fine-tuning was shared out (a method that
fine-tunes while it prunes returns ``finetuned``; one that fine-tunes between cuts returns ``epochs_before`` and the
epochs left for the prune command).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ....records.pruning import PruningRecord


@dataclass(frozen=True)
class PruneJob:
    data: dict
    options: Any  # options.prune.PruneOptions
    fit: Any  # training.fit.FitConfig
    reporter: Any
    teacher: Any = None  # the dense parent (or --teacher) when distilling
    workspace: Path | None = None
    budget: Any = None  # latency_budget.Budget for --target-ms, loaded once


@dataclass
class Applied:
    model: Any
    pruning: PruningRecord
    finetuned: Any = None  # a FitResult, when the method fine-tuned while it pruned
    epochs_before: int = 0  # epochs fine-tuned between cuts
    epochs_left: int | None = None  # the fine-tuning the prune command still runs (None: all of --epochs)


class Implementation:
    """Subclass this and add one line to ``impl/__init__.py``; ``name`` is the method's registry name."""

    name: str = ""

    def apply(self, model, job: PruneJob) -> Applied:
        raise NotImplementedError

    def finish(self, model, pruning: PruningRecord, job: PruneJob) -> PruningRecord:
        """After fine-tuning: measure the final model into the record and check it (raise UserError)."""
        return pruning


class Sequence(Implementation):
    """Implementations applied one after the other, each fine-tuning within what the one before left."""

    def __init__(self, name: str, steps: tuple[Implementation, ...]):
        self.name, self.steps = name, steps

    def apply(self, model, job: PruneJob) -> Applied:
        out = Applied(model, PruningRecord())
        for s in self.steps:
            part = s.apply(out.model, job)
            out = Applied(part.model, out.pruning.merged(part.pruning), part.finetuned or out.finetuned,
                          out.epochs_before + part.epochs_before,
                          part.epochs_left if part.epochs_left is not None else out.epochs_left)
            if part.epochs_left is not None:  # the next stage fine-tunes within (and from where) this one left off
                job = replace(job, fit=job.fit.window(job.fit.epochs - part.epochs_left, part.epochs_left))
        return out

    def finish(self, model, pruning: PruningRecord, job: PruneJob) -> PruningRecord:
        for s in self.steps:
            pruning = s.finish(model, pruning, job)
        return pruning
