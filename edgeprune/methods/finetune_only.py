"""``none``: no pruning, only the fine-tuning every method gets. Run on its own it is the fair control."""
from __future__ import annotations

from .base import PruningMethod


class FineTuneOnly(PruningMethod):
    name = "none"
    help = "fine-tune only (a control run of its own)"
    marker = "o"

    def name_part(self, o) -> str:
        return f"ft{o.epochs}"
