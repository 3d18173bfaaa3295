"""Gradual filter removal: the final widths reached in K steps, each step removing an equal share of the
filters to remove, so fine-tuning between steps can recover before the next cut.

Widths are computed from the original model every step (step k keeps ``orig * (1 - r * k / K)``, rounded as the
one-shot plan rounds), so rounding never compounds and the last step lands on the one-shot widths exactly. With
``--scope global`` each step removes the fraction of the remaining filters that brings the total to ``r * k / K``.
"""
from __future__ import annotations

from dataclasses import replace

from .plan import FilterPlan, layer_floor, round_width


def final_ratios(widths: dict[str, int], plan: FilterPlan) -> dict[str, float]:
    """Each layer's final ratio under a uniform (or per-layer) plan."""
    return {n: plan.per_layer.get(n, plan.ratio if not plan.per_layer else 0.0) for n in widths}


def step_plan(plan: FilterPlan, original: dict[str, int], current: dict[str, int], k: int, steps: int) -> FilterPlan:
    """The plan for step ``k`` (1-based) of ``steps``, applied to a model whose widths are ``current``."""
    if plan.scope == "global" and not plan.per_layer:
        done, goal = plan.ratio * (k - 1) / steps, plan.ratio * k / steps
        return replace(plan, ratio=1.0 - (1.0 - goal) / (1.0 - done))
    per_layer = {}
    for name, r in final_ratios(original, plan).items():
        n = original[name]
        target = round_width(n * (1.0 - r * k / steps), n, plan.round_to, layer_floor(n, plan.round_to))
        per_layer[name] = max(0.0, 1.0 - min(target, current[name]) / current[name])
    return replace(plan, per_layer=per_layer, round_to=1)


def step_epochs(epochs: int, steps: int) -> list[int]:
    """The fine-tuning epochs after each step: equal shares, the remainder going to the last."""
    base = epochs // steps
    return [base] * (steps - 1) + [epochs - base * (steps - 1)]
