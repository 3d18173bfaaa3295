"""What every pruning method declares, with no TensorFlow: its name, its option checks, the part it adds to a default
run name, and what it shows in reports. The work itself (``apply``) lives in the workbench
(``workbench/pruning/methods/``), which never imports this package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records.pruning import PruningRecord


@dataclass
class SummaryTable:
    """A table a method shows after pruning (the CLI prints it)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


class PruningMethod:
    """Subclass this, set the class attributes, and add one line to the registry (``methods/__init__.py``); its
    implementation is one module and one line in ``workbench/pruning/methods/__init__.py``."""

    name: str = ""
    help: str = ""  # one line for --method's help
    marker: str = "o"  # the plots' marker
    sweep_value: str | None = None  # what a sweep's --values set for this method; None: not swept
    takes_steps: bool = False  # whether --steps (pruning in several cuts) applies
    takes_latency_target: bool = False  # whether --target-ms (widths for a latency budget) applies
    changes_architecture: bool = False  # whether the pruned model is a smaller network (a scratch twin is that network)
    sparse_twin: bool = False  # whether the pruned model's zeros are its structure (a scratch twin keeps them)

    @property
    def takes_scratch(self) -> bool:
        """Whether --scratch applies: the pruned model has a structure of its own to train from random weights."""
        return self.changes_architecture or self.sparse_twin

    def check(self, o) -> None:
        """The method's own options, checked before any model is loaded (raise UserError)."""

    def name_part(self, o) -> str:
        """What this method adds to a default run name (``<parent>-<part>``)."""
        return self.name

    def sweep_options(self, value: float, sweep) -> dict:
        """The prune options of a sweep cell of this method at ``value``."""
        return {self.sweep_value: value} if self.sweep_value else {}

    def report_fields(self, pruning: PruningRecord) -> dict:
        """``target`` (what was asked), ``ratio`` (filters removed) and ``sparsity`` (measured zeros) for report
        rows; missing keys show as '-'."""
        return {}

    def describe(self, pruning: PruningRecord) -> list:
        """Tables (``SummaryTable``) and lines (str) the prune command shows for this method's result."""
        return []


class Composite(PruningMethod):
    """Methods applied one after the other (hybrid = filter, then weight)."""

    steps: tuple[PruningMethod, ...] = ()

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return any(s.takes_steps for s in self.steps)

    @property
    def changes_architecture(self) -> bool:  # type: ignore[override]
        return any(s.changes_architecture for s in self.steps)

    @property
    def sparse_twin(self) -> bool:  # type: ignore[override]
        return any(s.sparse_twin for s in self.steps)

    def check(self, o) -> None:
        for s in self.steps:
            s.check(o)

    def name_part(self, o) -> str:
        return "-".join(s.name_part(o) for s in self.steps)

    def report_fields(self, pruning: PruningRecord) -> dict:
        out: dict = {}
        for s in self.steps:
            out.update({k: v for k, v in s.report_fields(pruning).items() if v is not None})
        targets = [s.report_fields(pruning).get("target") for s in self.steps]
        out["target"] = "/".join(str(t) for t in targets) if all(t is not None for t in targets) else None
        return out

    def describe(self, pruning: PruningRecord) -> list:
        return [item for s in self.steps for item in s.describe(pruning)]
