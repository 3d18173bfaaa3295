"""One sweep cell: the grid's options, its cells, and the work of one cell (prune or re-use, export, time), the same
wherever an executor runs it."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .. import methods
from ..errors import UserError
from ..records import SweepCell
from ..workspace import Run

DISTILL_MODES = {"no": [False], "yes": [True], "both": [False, True]}


@dataclass
class SweepOptions:
    methods: list[str] = field(default_factory=lambda: ["weight"])
    values: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7, 0.9])
    formats: list[str] = field(default_factory=lambda: ["fp32"])
    hybrid_ratio: float = 0.3  # hybrid cells: this filter ratio, then weight pruning to each value
    bench: bool = False
    control: bool = False
    epochs: int = 30
    lr: float = 1e-4
    batch_size: int = 64
    criterion: str = "l1"
    round_to: int = 1
    bench_runs: int = 100
    threads: int | None = None
    out: str | None = None
    lr_schedule: str = "plateau"
    steps: int = 1  # cells whose method takes --steps
    distill: str = "no"  # DISTILL_MODES: "both" runs every pruned cell with and without the teacher
    distill_alpha: float = 0.5
    temperature: float = 4.0
    seeds: list[int] = field(default_factory=lambda: [42])
    executor: str = "local"  # study.executors
    address: str | None = None  # ray: the cluster (default: RAY_ADDRESS, else a local instance)
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    max_retries: int = 2  # ray: re-runs of a cell whose worker died
    bench_on: str | None = None  # ray: a custom resource naming the nodes that time the files
    targets: list[str] = field(default_factory=list)  # latency targets: "0.5x" (of the dense prediction) or ms
    latency_table: str | None = None
    latency_format: str = "fp32"


@dataclass
class Cell:
    key: str
    method: str  # none (the dense model itself, or a control), weight, filter, hybrid
    value: float | None
    finetune: bool = True
    distill: bool = False
    seed: int = 42
    target_ms: float | None = None  # a latency-budget cell


def parse_target(text: str, dense_ms: float | None) -> float:
    """'0.5x' is half the dense model's predicted latency; '1.2' is 1.2 ms."""
    t = text.strip().lower()
    try:
        if t.endswith("x"):
            frac = float(t[:-1])
            if not 0 < frac <= 1:
                raise ValueError
            if dense_ms is None:
                raise UserError("a target like 0.5x needs --latency-table to know the dense model's latency")
            return frac * dense_ms
        ms = float(t.removesuffix("ms"))
        if not ms > 0 or ms == float("inf"):
            raise ValueError
        return ms
    except ValueError:
        raise UserError(f"--target-ms takes fractions of the dense latency (0.5x) or milliseconds (1.2), got {text!r}") from None


def resolved_targets(o: SweepOptions) -> list[tuple[str, float]]:
    """(label, ms) of each --target-ms, fractions resolved on the table's prediction for the dense model."""
    if not o.targets:
        return []
    dense = None
    if o.latency_table:
        from ..latency_model import LatencyModel
        from ..readers import read_latency_table

        lat = LatencyModel(read_latency_table(o.latency_table), o.latency_format)
        dense = lat.predict(lat.widths)
    return [(t.strip().lower().removesuffix("ms"), parse_target(t, dense)) for t in o.targets]


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


def prune_options(cell: Cell, o: SweepOptions, name: str):
    """The prune options of one cell."""
    from ..workbench.pruning.prune import PruneOptions

    method = methods.get(cell.method)
    po = PruneOptions(method=cell.method, epochs=o.epochs, lr=o.lr, batch_size=o.batch_size, criterion=o.criterion,
                      round_to=o.round_to, lr_schedule=o.lr_schedule, steps=o.steps if method.takes_steps else 1,
                      distill=cell.distill, distill_alpha=o.distill_alpha, temperature=o.temperature, seed=cell.seed,
                      out=name, force=True)
    if cell.value is not None:
        for key, v in method.sweep_options(cell.value, o).items():
            setattr(po, key, v)
    if cell.target_ms is not None:
        po.target_ms, po.latency_table, po.latency_format = cell.target_ms, o.latency_table, o.latency_format
    return po


def run_name(run: Run, cell: Cell) -> str:
    return run.name if not cell.finetune else f"{run.name}-{cell.key}"


def run_cell(cell: Cell, run: Run, workspace: Path, folder: Path, o: SweepOptions, reporter) -> SweepCell:
    """Prune (or re-use) and export one cell; timing is left to the caller (``bench_cell``), which may run it on
    another machine than this one."""
    from ..workbench.export.bundle import ExportOptions, export
    from ..workbench.pruning.prune import prune

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
    return bench(kept, BenchOptions(threads=[o.threads], runs=o.bench_runs, min_time_s=DEFAULT_MIN_TIME_S),
                 reporter).rows


def failed_cell(cell: Cell, run: Run, o: SweepOptions, exc: BaseException, attempts: int | None = None) -> SweepCell:
    """The row of a cell that raised: its message, and the traceback of anything that is not a user error."""
    msg = str(exc) if isinstance(exc, UserError) else f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
    tb = None if isinstance(exc, UserError) else "".join(traceback.format_exception(exc, limit=5))
    return SweepCell(cell=cell.key, method=cell.method, value=cell.value, parent=run.name, options=cell_options(o),
                     seed=cell.seed, distill=cell.distill, error=msg, traceback=tb, attempts=attempts)


def cell_options(o: SweepOptions) -> dict:
    """What decides a cell's figures; a cell recorded with other options is run again, not reused. (Where a cell
    runs, and on how many CPUs, does not decide them.)"""
    return {"epochs": o.epochs, "lr": o.lr, "batch_size": o.batch_size, "criterion": o.criterion,
            "round_to": o.round_to, "hybrid_ratio": o.hybrid_ratio, "formats": list(o.formats), "bench": o.bench,
            "bench_runs": o.bench_runs, "threads": o.threads, "lr_schedule": o.lr_schedule, "steps": o.steps,
            "distill_alpha": o.distill_alpha, "temperature": o.temperature, "bench_on": o.bench_on,
            "targets": list(o.targets), "latency_table": o.latency_table, "latency_format": o.latency_format}


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
    return old if same_parent and info.options == recorded_options(po, parent.info) else None
