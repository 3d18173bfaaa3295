"""The options of `edgeprune optimize`, declared once (TF-free: the CLI's top level imports this module).

Options that decide the candidates (the budget, the table, the formats, the fine-tuning) are recorded in
optimize.json, so ``--resume`` continues with them; where and how the candidates run or are timed is not recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..device.defaults import DEFAULT_MIN_TIME_S, DEFAULT_ROUNDS
from . import opt, shared
from .prune import PruneOptions


def _p(name: str, **changes):
    return shared(PruneOptions, name, **changes)


@dataclass
class OptimizeOptions:
    latency_table: str | None = opt(None, kind=str, help="The latency table measured on the device (`edgeprune "
                                    "latency measure`); its rows for each format predict the candidates.")
    max_ms: str | None = opt(None, kind=str, help="The latency budget: milliseconds (2.0) or a fraction of the dense "
                             "model's predicted p50 in the first of --formats (0.5x).")
    max_kb: float | None = opt(None, kind=float, help="The size budget: largest gzip size of the file, in kB.")
    min_accuracy: float | None = opt(None, kind=float, help="Least test accuracy (0-1) the pick may have.")
    formats: list[str] = opt(factory=lambda: ["fp32", "int8"], items=str,
                             help="Export formats of every candidate (each must be in the table).")
    epochs: int = _p("epochs")
    lr: float = _p("lr")
    batch_size: int = _p("batch_size")
    criterion: str = _p("criterion")
    round_to: int | None = opt(None, kind=int, help="Keep filter counts at multiples of N (default: the table's "
                               "grid step).")
    lr_schedule: str = _p("lr_schedule")
    scratch: bool = _p("scratch")
    scratch_budget: str = _p("scratch_budget")
    executor: str = opt("local", records=False, help="local (candidates one after the other here) or ray (as Ray "
                        "tasks; pip install 'edgeprune[ray]').")
    address: str | None = opt(None, kind=str, records=False, help="ray: the cluster's address (default: RAY_ADDRESS, "
                              "else a local Ray instance).")
    cpus_per_cell: float = opt(1.0, records=False, help="ray: CPUs per candidate's training.")
    bench_on: str | None = opt(None, kind=str, records=False, help="ray: time the candidates on a node holding this "
                               "custom resource (the device), instead of on this machine.")
    handoff: bool = opt(False, records=False, help="Do not time here: write the candidates' files to copy to the "
                        "device; bench them there and finish with --resume --bench DEVICE.json.")
    bench: str | None = opt(None, kind=str, records=False, help="With --resume: `edgeprune bench --json` of the "
                            "handed-off candidates, measured on the device.")
    rounds: int = opt(DEFAULT_ROUNDS, records=False, help="Timing here or on --bench-on: interleaved rounds per file.")
    min_time_s: float = opt(DEFAULT_MIN_TIME_S, flag="--min-time", records=False,
                            help="Timing here or on --bench-on: seconds of timed runs per file per round.")
    dry_run: bool = opt(False, records=False, help="Print the plan (candidates, predictions, estimated time) and "
                        "stop; nothing is written.")
    resume: bool = opt(False, records=False, help="Continue an interrupted or handed-off optimize with its recorded "
                       "options.")
    out: str | None = opt(None, kind=str, short="-o", records=False,
                          help="Name or folder of the result (default: <workspace>/sweeps/<run>-optimize).")
    force: bool = opt(False, records=False, help="Start anew where an optimize of that name exists.")
