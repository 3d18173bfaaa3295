"""The implementations of the pruning methods: one module each, one registry line below, under the same names as
their descriptors in ``edgeprune.methods`` (which holds their options, names and report columns; this package never
imports it, and a test checks that the two registries name the same methods)."""
from __future__ import annotations

from ....registry import Registry
from .base import Applied, Implementation, PruneJob, Sequence
from .filter import FilterPruning
from .none import FineTuneOnly
from .weight import WeightPruning

_REGISTRY: Registry[Implementation] = Registry(
    "an implementation", lambda name, known: f"no implementation of the pruning method {name!r} in this installation")
register, unregister, names, get = _REGISTRY.register, _REGISTRY.unregister, _REGISTRY.names, _REGISTRY.get

register(FineTuneOnly())
register(WeightPruning())
register(FilterPruning())
register(Sequence("hybrid", (FilterPruning(), WeightPruning())))

__all__ = ["Applied", "Implementation", "PruneJob", "Sequence", "get", "names", "register", "unregister"]
