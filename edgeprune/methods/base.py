"""The interface every pruning method implements, and what it is handed while it works.

A method is a small object: its name, its option checks, the part it adds to a default run name, ``apply`` (the
model in, the pruned model and its summary out), ``finish`` (checks on the final model), and what it adds to
reports. Methods import TensorFlow only inside ``apply`` and ``finish``, so the registry is read by report and
plots without TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SummaryTable:
    """A table a method shows after pruning (the CLI prints it)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class PruneContext:
    """What a method works with: the run's decoded splits, the prune options, the fine-tuning configuration and
    the reporter. A method that fine-tunes while it prunes (tfmot's schedule does) sets ``finetuned``; otherwise
    the prune command fine-tunes after ``apply`` with ``fit``. A method that fine-tunes between steps passes
    ``teacher`` to its fits, adds their epochs to ``epochs_before`` and leaves the rest of the epochs in ``fit``,
    so every pruned model gets the epochs its control gets."""

    data: dict
    options: Any  # workbench.pruning.prune.PruneOptions
    fit: Any  # workbench.training.fit.FitConfig
    reporter: Any
    finetuned: Any = None  # a FitResult, once some step fine-tuned
    teacher: Any = None  # the dense parent when distilling, else None
    epochs_before: int = 0  # epochs already fine-tuned between steps
    workspace: Any = None  # the workspace's folder (where earlier bundles are found)


class PruningMethod:
    """Subclass this, set the class attributes, and add one line to the registry (``methods/__init__.py``)."""

    name: str = ""
    help: str = ""  # one line for --method's help
    marker: str = "o"  # the plots' marker
    sweep_value: str | None = None  # what a sweep's --values set for this method; None: not swept
    takes_steps: bool = False  # whether --steps (pruning in several cuts) applies
    takes_latency_target: bool = False  # whether --target-ms (widths for a latency budget) applies

    def check(self, o) -> None:
        """The method's own options, checked before any model is loaded (raise UserError)."""

    def name_part(self, o) -> str:
        """What this method adds to a default run name (``<parent>-<part>``)."""
        return self.name

    def check_model(self, model, o, workspace=None) -> None:
        """Checks of the options against the loaded model, before any data is read (raise UserError)."""

    def sweep_options(self, value: float, sweep) -> dict:
        """The prune options of a sweep cell of this method at ``value``."""
        return {self.sweep_value: value} if self.sweep_value else {}

    def apply(self, model, ctx: PruneContext) -> tuple[Any, dict]:
        """Prune ``model``; return the pruned model and {section: summary} for run.json's ``pruning``."""
        raise NotImplementedError

    def finish(self, model, pruning: dict, ctx: PruneContext) -> None:
        """After fine-tuning: measure the final model into ``pruning`` and check it (raise UserError)."""

    def report_fields(self, pruning: dict) -> dict:
        """From run.json's ``pruning``: ``target`` (what was asked), ``ratio`` (filters removed) and ``sparsity``
        (measured zeros) for report rows; missing keys show as '-'."""
        return {}

    def describe(self, pruning: dict) -> list:
        """Tables (``SummaryTable``) and lines (str) the prune command shows for this method's result."""
        return []


class Composite(PruningMethod):
    """Methods applied one after the other (hybrid = filter, then weight)."""

    steps: tuple[PruningMethod, ...] = ()

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return any(s.takes_steps for s in self.steps)

    def check(self, o) -> None:
        for s in self.steps:
            s.check(o)

    def check_model(self, model, o, workspace=None) -> None:
        for s in self.steps:
            s.check_model(model, o, workspace)

    def name_part(self, o) -> str:
        return "-".join(s.name_part(o) for s in self.steps)

    def apply(self, model, ctx: PruneContext) -> tuple[Any, dict]:
        pruning: dict = {}
        for s in self.steps:
            model, part = s.apply(model, ctx)
            pruning.update(part)
        return model, pruning

    def finish(self, model, pruning: dict, ctx: PruneContext) -> None:
        for s in self.steps:
            s.finish(model, pruning, ctx)

    def report_fields(self, pruning: dict) -> dict:
        out: dict = {}
        for s in self.steps:
            out.update({k: v for k, v in s.report_fields(pruning).items() if v is not None})
        targets = [s.report_fields(pruning).get("target") for s in self.steps]
        out["target"] = "/".join(str(t) for t in targets) if all(t is not None for t in targets) else None
        return out

    def describe(self, pruning: dict) -> list:
        return [item for s in self.steps for item in s.describe(pruning)]
