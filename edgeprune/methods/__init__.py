"""Pruning methods as plug-ins: one module per method, one registry.

prune, sweep, report, plots and the CLI find methods here: what a method is called, what options it takes and checks,
and what it shows. Adding a method is one descriptor here (a ``PruningMethod`` subclass, see ``base.py``, and one
``register`` line below) and its implementation in ``workbench/pruning/methods/`` (one module, one line there).
Nothing here imports TensorFlow or the workbench, and the workbench never imports this package.
"""
from __future__ import annotations

from ..registry import Registry
from .base import Composite, PruningMethod, SummaryTable
from .filter_removal import FilterPruning
from .finetune_only import FineTuneOnly
from .hybrid import Hybrid
from .weight import WeightPruning

_REGISTRY: Registry[PruningMethod] = Registry(
    "a pruning method", lambda name, known: f"--method must be one of {', '.join(known)}, got {name!r}")
register, unregister, names, get, find = (_REGISTRY.register, _REGISTRY.unregister, _REGISTRY.names, _REGISTRY.get,
                                          _REGISTRY.find)


def order(name: str | None) -> int:
    """Registry order, for sorting report rows; unknown methods last."""
    return names().index(name) if name in names() else len(names())


def swept() -> list[str]:
    """The methods a sweep can take (those whose --values mean something)."""
    return [n for n in names() if get(n).sweep_value]


register(FineTuneOnly())
register(WeightPruning())
register(FilterPruning())
register(Hybrid())

__all__ = ["Composite", "PruningMethod", "SummaryTable", "get", "find", "names", "order",
           "register", "unregister", "swept"]
