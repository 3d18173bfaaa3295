"""``none``: nothing to prune; the prune command fine-tunes (the control of its own)."""
from __future__ import annotations

from ....records.pruning import PruningRecord
from .base import Applied, Implementation


class FineTuneOnly(Implementation):
    name = "none"

    def apply(self, model, job):
        return Applied(model, PruningRecord())
