"""The implementations of the pruning methods: one module each, one registry line below, under the same names as
their descriptors in ``edgeprune.methods`` (which holds their options, names and report columns; this package never
imports it, and a test checks that the two registries name the same methods)."""
from __future__ import annotations

from ....errors import UserError
from .base import Applied, Implementation, PruneJob, Sequence
from .filter import FilterPruning
from .none import FineTuneOnly
from .weight import WeightPruning

_REGISTRY: dict[str, Implementation] = {}


def register(impl: Implementation) -> Implementation:
    if not impl.name or impl.name in _REGISTRY:
        raise ValueError(f"an implementation needs a new name, got {impl.name!r}")
    _REGISTRY[impl.name] = impl
    return impl


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> Implementation:
    if name not in _REGISTRY:
        raise UserError(f"no implementation of the pruning method {name!r} in this installation")
    return _REGISTRY[name]


register(FineTuneOnly())
register(WeightPruning())
register(FilterPruning())
register(Sequence("hybrid", (FilterPruning(), WeightPruning())))

__all__ = ["Applied", "Implementation", "PruneJob", "Sequence", "get", "names", "register", "unregister"]
