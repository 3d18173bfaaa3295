"""run.json's ``pruning``: what each pruning step did, one typed section per kind of step.

A weight-pruned run has ``weight``, a filter-pruned run ``filter``, a hybrid run both, a clustered run
``clustering`` too. Sections from older files read as long as their keys have these types; keys a section does not
know are kept (``extra``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import Record, extra_field, fraction


@dataclass
class FilterLayer(Record):
    WHAT = "filter layer"
    layer: str
    filters_before: int
    filters_kept: int
    extra: dict = extra_field()


@dataclass
class FilterGroup(Record):
    """One group of the channel graph: the layers whose channels it holds, and its channels kept of total."""

    WHAT = "filter group"
    name: str
    producers: list[str] = field(default_factory=list)  # Conv2D / Dense layers whose output channels it is
    members: list[str] = field(default_factory=list)  # every layer whose weights hold its channels
    channels_kept: int = 0
    channels_total: int = 0
    extra: dict = extra_field()


@dataclass
class FilterSection(Record):
    """Filter removal: the widths kept, and params and MACs before and after."""

    WHAT = "filter pruning"
    method: str = "filter"
    criterion: str | None = None
    scope: str | None = None
    ratio: float | None = None  # the uniform ratio asked for (None: per-layer ratios or a latency budget)
    round_to: int | None = None
    per_layer_ratios: dict[str, float] | None = None
    layers: list[FilterLayer] = field(default_factory=list)
    params_before: int | None = None
    params_after: int | None = None
    macs_before: int | None = None
    macs_after: int | None = None
    params_ratio: float | None = None
    macs_ratio: float | None = None
    after_surgery: dict | None = None  # val accuracy before and after BatchNorm re-estimation
    steps: list[dict] | None = None  # --steps K: each cut and the fine-tuning after it
    latency_budget: dict | None = None  # --target-ms: the target, the prediction, the widths, the feedback
    groups: list[FilterGroup] | None = None  # each group of the channel graph (files before issue 23 have none)
    extra: dict = extra_field()

    def widths(self) -> dict[str, int]:
        return {r.layer: r.filters_kept for r in self.layers}


@dataclass
class WeightSection(Record):
    """Magnitude pruning: the target, the schedule, and the sparsity measured in the saved weights."""

    WHAT = "weight pruning"
    method: str = "weight"
    target_sparsity: float | None = fraction()
    schedule: dict | None = None
    pruned_layers: list[str] = field(default_factory=list)
    sparsity: float | None = fraction()  # zeros in the pruned kernels (measured)
    sparsity_all: float | None = fraction()  # zeros in all parameters
    params: int | None = None
    nonzero_params: int | None = None
    layers: list[dict] = field(default_factory=list)  # per layer: kernel, nonzero, sparsity, pruned
    extra: dict = extra_field()


@dataclass
class PruningRecord(Record):
    WHAT = "pruning record"
    weight: WeightSection | None = None
    filter: FilterSection | None = None
    clustering: dict | None = None
    extra: dict = extra_field()

    def merged(self, other: "PruningRecord") -> "PruningRecord":
        """This record with ``other``'s sections added (a composite method's steps)."""
        return PruningRecord(weight=other.weight or self.weight, filter=other.filter or self.filter,
                             clustering=other.clustering or self.clustering, extra={**self.extra, **other.extra})
