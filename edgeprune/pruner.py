"""Pruning a run, as the CLI, sweeps and tests ask for it: the options checked by the method's descriptor
(``edgeprune.methods``, no TensorFlow), the new run named, then the work done by the workbench
(``workbench/pruning/prune.py`` with the method's implementation). Imports go one way: this module imports both
sides; the workbench never imports the descriptors."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from . import methods
from .errors import UserError
from .options.prune import DenseFraction, PruneOptions


def resolve_target(o: PruneOptions) -> PruneOptions:
    """``--target-ms 0.5x`` in milliseconds: the fraction of the dense model's latency as the table predicts it (the
    same rule as sweep's and optimize's targets); other options are returned as they are."""
    if not isinstance(o.target_ms, DenseFraction):
        return o
    if o.latency_feedback:  # the feedback corrects the table's milliseconds; a fraction of which is ambiguous
        raise UserError(f"--target-ms {float(o.target_ms):g}x with --latency-feedback: give the target in "
                        "milliseconds as the device measures them (e.g. --target-ms 1.2)")
    if not o.latency_table:
        raise UserError(f"--target-ms {float(o.target_ms):g}x is a fraction of the dense model's latency: give the "
                        "--latency-table that predicts it")
    from .latency.budget import dense_predicted_ms

    return replace(o, target_ms=float(o.target_ms) * dense_predicted_ms(o.latency_table, o.latency_format))


def validate(o: PruneOptions) -> None:
    """Every option, the method's own through its descriptor, checked before any model is loaded."""
    from .workbench.pruning.prune import check_options

    method = methods.get(o.method)
    if o.steps != 1 and not method.takes_steps:
        raise UserError(f"--steps applies to filter removal; --method {o.method} prunes in one schedule")
    if (o.target_ms is not None or o.latency_table or o.latency_feedback) and not method.takes_latency_target:
        raise UserError(f"--target-ms applies to --method filter (it chooses widths); --method {o.method} does not")
    if o.scratch and not method.takes_scratch:
        raise UserError(f"--scratch trains the pruned structure from random weights; --method {o.method} keeps the "
                        "parent's (use --control to compare with the parent fine-tuned alike)")
    method.check(o)
    check_options(o)


def default_name(parent: str, o: PruneOptions) -> str:
    """``<parent>-<method part>[-c<clusters>][-kd]``."""
    parts = [parent, methods.get(o.method).name_part(o)]
    if o.cluster:
        parts.append(f"c{o.cluster}")
    if o.distill:
        parts.append("kd")
    return "-".join(p for p in parts if p)


def prune(run, workspace: Path, o: PruneOptions, reporter=None, checked: bool = False):
    """Check ``o`` (unless the caller just did: ``checked``), then prune ``run`` into a new run (``o.out``, or the
    default name) and return it."""
    from .workbench.pruning.prune import prune as work

    o = resolve_target(o)  # a no-op once resolved
    if not checked:
        validate(o)
    return work(run, workspace, o, default_name(run.name, o), reporter)
