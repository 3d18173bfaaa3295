"""Pruning methods as plug-ins: one module per method, one registry.

prune, sweep, report, plots and the CLI find methods here: what a method is called, what options it takes and checks,
and what it shows. Adding a method is one descriptor here (a ``PruningMethod`` subclass, see ``base.py``, and one
``register`` line below) and its implementation in ``workbench/pruning/methods/`` (one module, one line there).
Nothing here imports TensorFlow or the workbench, and the workbench never imports this package.
"""
from __future__ import annotations

from ..errors import UserError
from .base import Composite, PruningMethod, SummaryTable
from .filter_removal import FilterPruning
from .finetune_only import FineTuneOnly
from .hybrid import Hybrid
from .weight import WeightPruning

_REGISTRY: dict[str, PruningMethod] = {}


def register(method: PruningMethod) -> PruningMethod:
    if not method.name or method.name in _REGISTRY:
        raise ValueError(f"a pruning method needs a new name, got {method.name!r}")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> PruningMethod:
    if name not in _REGISTRY:
        raise UserError(f"--method must be one of {', '.join(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


def find(name: str | None) -> PruningMethod | None:
    """The method of that name, or None for a name this installation does not know (a file from elsewhere)."""
    return _REGISTRY.get(name or "")


def order(name: str | None) -> int:
    """Registry order, for sorting report rows; unknown methods last."""
    return names().index(name) if name in _REGISTRY else len(_REGISTRY)


def swept() -> list[str]:
    """The methods a sweep can take (those whose --values mean something)."""
    return [n for n, m in _REGISTRY.items() if m.sweep_value]


register(FineTuneOnly())
register(WeightPruning())
register(FilterPruning())
register(Hybrid())

__all__ = ["Composite", "PruningMethod", "SummaryTable", "get", "find", "names", "order",
           "register", "unregister", "swept"]
