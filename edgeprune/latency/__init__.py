"""Latency budgets, one home, no TensorFlow: the model that predicts a pruned model's latency from a table measured
on the device (``model``), the widths chosen for a target and the budget checked and loaded once per prune
(``budget``), and the correction measured on the device (``feedback``). The table itself is written by
``device/latency_table.py`` (on the device) from the files ``workbench/latency_probe.py`` writes; the importance
of each channel, which needs the weights, comes from the workbench (``workbench/pruning/impl/filter.py``).
"""
from .budget import Budget, budget_widths, check_options, choose_widths, load_budget, parse_target, resolved_targets
from .model import LatencyModel, describe, median_abs_error

__all__ = ["Budget", "budget_widths", "check_options", "choose_widths", "load_budget", "parse_target",
           "resolved_targets", "LatencyModel", "describe", "median_abs_error"]
