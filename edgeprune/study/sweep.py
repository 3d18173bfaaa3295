"""`edgeprune sweep`: prune, export and bench a grid of methods x values, resumable, into one results file."""
from __future__ import annotations

import csv
import io
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .. import formats, methods
from ..errors import UserError
from ..jsonio import atomic_write_text, to_jsonable
from ..progress import Reporter, Silent
from ..readers import read_sweep_cells
from ..records import SweepCell
from ..workspace import Run, output_folder

RESULTS = "results.jsonl"


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


@dataclass
class Cell:
    key: str
    method: str  # none (the dense model itself, or a control), weight, filter, hybrid
    value: float | None
    finetune: bool = True


class _LogOnly:
    """Inner steps print their log lines; the sweep's own bar stays the only progress bar."""

    def __init__(self, outer: Reporter):
        self.outer = outer

    def task(self, description, total):
        pass

    def advance(self, n=1):
        pass

    def log(self, message):
        self.outer.log(message)

    def done(self):
        pass


def cells(o: SweepOptions) -> list[Cell]:
    out = [Cell("dense", "none", None, finetune=False)]
    if o.control:
        out.append(Cell(f"control-ft{o.epochs}", "none", None))
    for m in o.methods:
        for v in o.values:
            out.append(Cell(f"{m}-{round(100 * v):02d}", m, v))
    return out


def validate(o: SweepOptions) -> None:
    """Every option of every cell, checked before the first cell runs."""
    from ..workbench.pruning.prune import validate as validate_prune

    bad = [m for m in o.methods if m not in methods.swept()]
    if bad or not o.methods:
        raise UserError(f"--method takes {', '.join(methods.swept())}, got {','.join(bad) or '(none)'}")
    if not o.values or any(not 0 < v < 1 for v in o.values):
        raise UserError("--values must be numbers between 0 and 1, e.g. 0.3,0.5,0.7,0.9")
    formats.check_names(o.formats)
    if "hybrid" in o.methods and not 0 < o.hybrid_ratio < 1:
        raise UserError(f"--hybrid-ratio must be between 0 and 1 (exclusive), got {o.hybrid_ratio}")
    if o.bench_runs < 1:
        raise UserError("--runs must be at least 1")
    if o.out is not None and not o.out.strip():
        raise UserError("--out is empty; give a name or a folder for the sweep")
    for c in cells(o):
        if c.finetune:
            validate_prune(prune_options(c, o, "x"))


def prune_options(cell: Cell, o: SweepOptions, name: str):
    """The prune options of one cell."""
    from ..workbench.pruning.prune import PruneOptions

    po = PruneOptions(method=cell.method, epochs=o.epochs, lr=o.lr, batch_size=o.batch_size, criterion=o.criterion,
                      round_to=o.round_to, out=name, force=True)
    if cell.value is not None:
        for key, v in methods.get(cell.method).sweep_options(cell.value, o).items():
            setattr(po, key, v)
    return po


def done_keys(path: Path) -> dict[str, SweepCell]:
    """The cells recorded in results.jsonl. A line that is cut (a kill mid-write) or of the wrong shape is passed
    over, so its cell runs again."""
    if not path.is_file():
        return {}
    try:
        return read_sweep_cells(path)[0]
    except UserError:
        return {}


def _append(path: Path, record: SweepCell) -> None:
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + json.dumps(to_jsonable(record.to_dict())) + "\n")


def run_cell(cell: Cell, run: Run, workspace: Path, folder: Path, o: SweepOptions, reporter) -> SweepCell:
    from ..device.bench import BenchOptions, bench
    from ..workbench.export.bundle import ExportOptions, export
    from ..workbench.pruning.prune import prune

    rec = SweepCell(cell=cell.key, method=cell.method, value=cell.value, parent=run.name,
                    epochs=o.epochs if cell.finetune else 0, options=cell_options(o))
    if not cell.finetune:
        target = run
    else:
        name = f"{run.name}-{cell.key}"
        po = prune_options(cell, o, name)
        target = reusable_run(run, workspace, name, po)  # pruned earlier with these very options: re-use it
        if target is None:
            target = prune(run, workspace, po, reporter)
    info = target.info
    rec.run, rec.val_accuracy, rec.test_accuracy, rec.sparsity = target.name, info.val_accuracy, info.test_accuracy, info.sparsity
    rec.params, rec.nonzero_params, rec.macs = info.params, info.nonzero_params, info.macs
    bundle = folder / "exports" / cell.key
    res = export(target, workspace, ExportOptions(formats=o.formats, out=str(bundle), force=True, threads=o.threads), reporter)
    rec.bundles = [str(bundle.resolve())]
    rec.files = [{k: getattr(r, k) for k in ("file", "format", "sparse", "bytes", "gzip_bytes", "naive_bound_bytes", "entropy_floor_bytes", "accuracy",
                                             "agreement", "kept", "error")} for r in res.rows]
    rec.fp32_gzip_bytes = next((r.gzip_bytes for r in res.rows if r.format == "fp32" and r.kept), None)
    if o.bench:
        kept = [bundle / r.file for r in res.rows if r.kept]
        rec.bench = bench(kept, BenchOptions(threads=[o.threads], runs=o.bench_runs), reporter).rows
    return rec


def cell_options(o: SweepOptions) -> dict:
    """What decides a cell's figures; a cell recorded with other options is run again, not reused."""
    return {"epochs": o.epochs, "lr": o.lr, "batch_size": o.batch_size, "criterion": o.criterion,
            "round_to": o.round_to, "hybrid_ratio": o.hybrid_ratio, "formats": list(o.formats), "bench": o.bench,
            "bench_runs": o.bench_runs, "threads": o.threads}


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


def sweep(run: Run, workspace: Path, o: SweepOptions, reporter: Reporter | None = None) -> tuple[Path, list[SweepCell]]:
    validate(o)
    reporter = reporter or Silent()
    folder = output_folder(workspace, "sweep", o.out, run.name)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a folder for the sweep with --out")
    folder.mkdir(parents=True, exist_ok=True)
    opts = cell_options(o)
    results = folder / RESULTS
    done = done_keys(results)
    todo = [c for c in cells(o)]
    reporter.task(f"sweep ({len(todo)} cells)", len(todo))
    inner = _LogOnly(reporter)
    records = []
    for c in todo:
        prev = done.get(c.key)
        if prev and not prev.error and prev.options == opts:
            reporter.log(f"{c.key}: done earlier, skipped")
            records.append(prev)
            reporter.advance(1)
            continue
        reporter.log(f"cell {c.key}")
        t0 = time.perf_counter()
        try:
            rec = run_cell(c, run, workspace, folder, o, inner)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failed cell is recorded and the sweep goes on
            msg = str(exc) if isinstance(exc, UserError) else f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
            rec = SweepCell(cell=c.key, method=c.method, value=c.value, parent=run.name, options=opts, error=msg,
                            traceback=None if isinstance(exc, UserError) else traceback.format_exc(limit=5))
            reporter.log(f"{c.key} failed: {msg}")
        rec.seconds = round(time.perf_counter() - t0, 1)
        _append(results, rec)
        records.append(rec)
        reporter.advance(1)
    reporter.done()
    write_csv(folder / "results.csv", records)
    return folder, records


CSV_COLUMNS = ["cell", "method", "value", "run", "val_accuracy", "test_accuracy", "sparsity", "params", "nonzero_params",
               "macs", "fp32_gzip_bytes", "seconds", "error"]


def write_csv(path: Path, records: list[SweepCell]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({k: getattr(r, k) for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())
