"""One sweep cell: the grid's options, its cells, and the work of one cell (prune or re-use, export, time), the same
wherever an executor runs it."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from .. import methods
from ..errors import UserError, short
from ..options import opt, recorded, same_options, shared, sweep_fields
from ..options.prune import PruneOptions
from ..records import SweepCell
from ..workspace import Run

DISTILL_MODES = {"no": [False], "yes": [True], "both": [False, True]}


def _p(name: str):
    """A prune option a sweep sets for every cell: declared once, in PruneOptions."""
    return shared(PruneOptions, name)


@dataclass
class SweepOptions:
    """The grid's options. ``records=False``: an option that does not decide a cell's figures (a cell recorded with
    other deciding options is run again, not reused; where a cell runs, and on how many CPUs, does not decide them)."""

    methods: list[str] = opt(factory=lambda: ["weight"], items=str, flag="--method", records=False,
                             help="Comma-separated methods that take --values (the CLI lists them).")
    values: list[float] = opt(factory=lambda: [0.3, 0.5, 0.7, 0.9], items=float, records=False,
                              help="Sparsities (weight, hybrid) or ratios (filter).")
    formats: list[str] = opt(factory=lambda: ["fp32"], items=str, help="Export formats of every cell, e.g. fp32,int8.")
    hybrid_ratio: float = opt(0.3, help="Filter ratio of hybrid cells (then weight-pruned to each value).")
    bench: bool = opt(False, help="Benchmark every exported file on this machine.")
    control: bool = opt(False, records=False, help="Add the unpruned model fine-tuned for the same epochs.")
    epochs: int = _p("epochs")
    lr: float = _p("lr")
    batch_size: int = _p("batch_size")
    criterion: str = _p("criterion")
    round_to: int = _p("round_to")
    bench_runs: int = opt(100, flag="--runs", help="Timed runs per file when benchmarking (at least; each file is "
                          "also timed for the bench's minimum time).")
    threads: int | None = opt(None, cli=False)  # interpreter threads of export checks and timing (None: all cores)
    out: str | None = opt(None, kind=str, short="-o", records=False,
                          help="Name or folder of the sweep (default: <workspace>/sweeps/<run>).")
    lr_schedule: str = _p("lr_schedule")
    steps: int = _p("steps")
    distill: str = opt("no", records=False, help="no, yes (the parent teaches every pruned cell) or both (each cell "
                       "with and without, so the gain is measured).")
    distill_alpha: float = _p("distill_alpha")
    temperature: float = _p("temperature")
    scratch: bool = _p("scratch")
    scratch_budget: str = _p("scratch_budget")
    seeds: list[int] = opt(factory=lambda: [42], items=int, records=False,
                           help="Comma-separated seeds; each cell (and the control) runs once per seed.")
    executor: str = opt("local", records=False, help="local (cells one after the other here) or ray (cells as Ray "
                        "tasks; pip install 'edgeprune[ray]').")
    address: str | None = opt(None, kind=str, records=False, help="ray: the cluster's address (default: RAY_ADDRESS, "
                              "else a local Ray instance).")
    cpus_per_cell: float = opt(1.0, records=False, help="ray: CPUs per cell; training in a cell uses that many threads.")
    gpus_per_cell: float = opt(0.0, records=False, help="ray: GPUs per cell.")
    max_retries: int = opt(2, records=False, help="ray: re-runs of a cell whose worker died.")
    bench_on: str | None = opt(None, kind=str, help="ray: time the files on nodes holding this custom resource "
                               "(e.g. pi5) instead of on this machine.")
    targets: list[str] = opt(factory=list, items=str, flag="--target-ms", help=(
        "Latency targets for filter cells instead of --values: fractions of the dense model's predicted p50 "
        "(0.5x,0.3x) or ms (1.2,0.8)."))
    latency_table: str | None = opt(None, kind=str, help="With --target-ms: the latency table.")
    latency_format: str = opt("fp32", help="With --target-ms: the format the targets are for.")


@dataclass
class Cell:
    key: str
    method: str  # none (the dense model itself, or a control), weight, filter, hybrid
    value: float | None
    finetune: bool = True
    distill: bool = False
    seed: int = 42
    target_ms: float | None = None  # a latency-budget cell


def resolved_targets(o: SweepOptions) -> list[tuple[str, float]]:
    """(label, ms) of each --target-ms, fractions resolved on the table's prediction for the dense model."""
    from ..latency.budget import resolved_targets as budget_targets

    return budget_targets(o.targets, o.latency_table, o.latency_format)


def cells(o: SweepOptions) -> list[Cell]:
    """The grid: the dense model, then per seed the control and every method x value (x with/without teacher)."""
    out = [Cell("dense", "none", None, finetune=False)]
    targets = resolved_targets(o)
    for seed in o.seeds:
        sfx = f"-s{seed}" if len(o.seeds) > 1 else ""
        if o.control:
            out.append(Cell(f"control-ft{o.epochs}{sfx}", "none", None, seed=seed))
        for m in o.methods:
            if targets and methods.get(m).takes_latency_target:
                points = [(f"{m}-t{label}", None, ms) for label, ms in targets]
            else:
                points = [(f"{m}-{round(100 * v):02d}", v, None) for v in o.values]
            for key, v, ms in points:
                for kd in DISTILL_MODES.get(o.distill, [False]):
                    out.append(Cell(f"{key}{'-kd' if kd else ''}{sfx}", m, v, distill=kd, seed=seed, target_ms=ms))
    return out


def prune_options(cell: Cell, o: SweepOptions, name: str) -> PruneOptions:
    """The prune options of one cell: the sweep's values of the options every cell shares, then the cell's own."""
    method = methods.get(cell.method)
    shared_values = {k: getattr(o, k) for k in sweep_fields(PruneOptions)}
    if not method.takes_steps:
        shared_values["steps"] = 1
    if not method.takes_scratch:  # a scratch twin is of a pruned structure (not of the control's)
        shared_values["scratch"] = False
    own = method.sweep_options(cell.value, o) if cell.value is not None else {}
    # a --target-ms cell allocates per layer (the greedy widths): one ratio for every layer is what the ratio cells are
    budget = ({"target_ms": cell.target_ms, "latency_table": o.latency_table, "latency_format": o.latency_format,
               "scope": "global"} if cell.target_ms is not None else {})
    return PruneOptions(method=cell.method, **shared_values, **own, **budget, distill=cell.distill, seed=cell.seed,
                        out=name, force=True)


def run_name(run: Run, cell: Cell) -> str:
    return run.name if not cell.finetune else f"{run.name}-{cell.key}"


def run_cell(cell: Cell, run: Run, workspace: Path, folder: Path, o: SweepOptions, reporter) -> SweepCell:
    """Prune (or re-use) and export one cell; timing is left to the caller (``bench_cell``), which may run it on
    another machine than this one."""
    from ..workbench.export.bundle import ExportOptions, export
    from ..pruner import prune

    rec = SweepCell(cell=cell.key, method=cell.method, value=cell.value, parent=run.name,
                    epochs=o.epochs if cell.finetune else 0, options=cell_options(o), seed=cell.seed,
                    distill=cell.distill)
    if not cell.finetune:
        target = run
    else:
        name = run_name(run, cell)
        po = prune_options(cell, o, name)
        target = reusable_run(run, workspace, name, po)  # pruned earlier with these very options: re-use it
        if target is None:
            target = prune(run, workspace, po, reporter)
    info = target.info
    rec.run, rec.val_accuracy, rec.test_accuracy, rec.sparsity = target.name, info.val_accuracy, info.test_accuracy, info.sparsity
    rec.params, rec.nonzero_params, rec.macs = info.params, info.nonzero_params, info.macs
    rec.test_correct = info.test_correct
    bundle = folder / "exports" / cell.key
    res = export(target, workspace, ExportOptions(formats=o.formats, out=str(bundle), force=True, threads=o.threads), reporter)
    rec.bundles = [str(bundle.resolve())]
    rec.files = [{k: getattr(r, k) for k in ("file", "format", "sparse", "bytes", "gzip_bytes", "naive_bound_bytes", "entropy_floor_bytes", "accuracy",
                                             "agreement", "kept", "error")} for r in res.rows]
    rec.fp32_gzip_bytes = next((r.gzip_bytes for r in res.rows if r.format == "fp32" and r.kept), None)
    return rec


def bench_cell(rec: SweepCell, bundle: Path, o: SweepOptions, reporter) -> list:
    """Time the cell's kept files on this machine: its bench rows (each names its device)."""
    from ..device.bench import BenchOptions, bench
    from ..device.defaults import DEFAULT_MIN_TIME_S

    kept = [bundle / f["file"] for f in rec.files if f.get("kept")]
    # one round (a sweep's quick look; `edgeprune bench` gives intervals), timed long enough to pass the slow start
    return bench(kept, BenchOptions(threads=[o.threads], runs=o.bench_runs, min_time_s=DEFAULT_MIN_TIME_S, rounds=1),
                 reporter).rows


def failed_cell(cell: Cell, run: Run, o: SweepOptions, exc: BaseException, attempts: int | None = None) -> SweepCell:
    """The row of a cell that raised: its message, and the traceback of anything that is not a user error."""
    msg = str(exc) if isinstance(exc, UserError) else f"{exc.__class__.__name__}: {short(exc)}"
    tb = None if isinstance(exc, UserError) else "".join(traceback.format_exception(exc, limit=5))
    return SweepCell(cell=cell.key, method=cell.method, value=cell.value, parent=run.name, options=cell_options(o),
                     seed=cell.seed, distill=cell.distill, error=msg, traceback=tb, attempts=attempts)


def cell_options(o: SweepOptions) -> dict:
    """What decides a cell's figures (the options not marked ``records=False``)."""
    return recorded(o)


def reusable_run(parent: Run, workspace: Path, name: str, po) -> Run | None:
    """The run ``name`` when it was pruned from ``parent`` with exactly the options ``po``, else None."""
    from ..workbench.pruning.prune import recorded_options
    from ..workspace import resolve_run

    if not (Path(workspace) / name / "run.json").is_file():
        return None
    try:
        old = resolve_run(name, workspace)
        info = old.info
    except UserError:
        return None
    same_parent = info.parent is not None and info.parent.name == parent.name
    return old if same_parent and same_options(PruneOptions, info.options, recorded_options(po, parent.info)) else None
