"""`edgeprune sweep`: prune, export and bench a grid of methods x values, resumable, into one results file."""
from __future__ import annotations

import csv
import io
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..jsonio import atomic_write_text, to_jsonable
from ..progress import Reporter, Silent
from ..runs import Run

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
    bad = [m for m in o.methods if m not in ("weight", "filter", "hybrid")]
    if bad or not o.methods:
        raise UserError(f"--method takes weight, filter and/or hybrid, got {','.join(bad) or '(none)'}")
    if not o.values or any(not 0 < v < 1 for v in o.values):
        raise UserError("--values must be numbers between 0 and 1, e.g. 0.3,0.5,0.7,0.9")
    from ..workbench.export import FORMATS

    if any(f not in FORMATS for f in o.formats):
        raise UserError(f"--formats takes {', '.join(FORMATS)}")


def done_keys(path: Path) -> dict[str, dict]:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: that cell runs again
            if d.get("kind") == "edgeprune-sweep-cell":
                out[d["cell"]] = d
    return out


def _append(path: Path, record: dict) -> None:
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + json.dumps(to_jsonable(record)) + "\n")


def run_cell(cell: Cell, run: Run, workspace: Path, folder: Path, o: SweepOptions, reporter) -> dict:
    from ..device.bench import BenchOptions, bench
    from ..runs import resolve_run
    from ..workbench.export import ExportOptions, export
    from ..workbench.prune import PruneOptions, prune

    rec: dict = {"kind": "edgeprune-sweep-cell", "cell": cell.key, "method": cell.method, "value": cell.value,
                 "parent": run.name, "epochs": o.epochs if cell.finetune else 0}
    if not cell.finetune:
        target = run
    else:
        name = f"{run.name}-{cell.key}"
        if (Path(workspace) / name / "run.json").is_file():
            target = resolve_run(name, workspace)  # pruned earlier, the sweep stopped before export: re-use it
        else:
            po = PruneOptions(method=cell.method, epochs=o.epochs, lr=o.lr, batch_size=o.batch_size,
                              criterion=o.criterion, round_to=o.round_to, out=name, force=True)
            if cell.method == "weight":
                po.sparsity = cell.value
            elif cell.method == "filter":
                po.ratio = cell.value
            elif cell.method == "hybrid":
                po.ratio, po.sparsity = o.hybrid_ratio, cell.value
            target = prune(run, workspace, po, reporter)
    info = target.info
    rec.update({"run": target.name, "val_accuracy": info.get("val_accuracy"), "test_accuracy": info.get("test_accuracy"),
                "sparsity": info.get("sparsity"), "params": info.get("params"), "nonzero_params": info.get("nonzero_params"),
                "macs": info.get("macs")})
    bundle = folder / "exports" / cell.key
    res = export(target, workspace, ExportOptions(formats=o.formats, out=str(bundle), force=True, threads=o.threads), reporter)
    rec["bundles"] = [str(bundle.resolve())]
    rec["files"] = [{k: r.get(k) for k in ("file", "format", "sparse", "bytes", "gzip_bytes", "floor_bytes", "accuracy",
                                           "agreement", "kept", "error")} for r in res.rows]
    rec["fp32_gzip_bytes"] = next((r["gzip_bytes"] for r in res.rows if r["format"] == "fp32" and r["kept"]), None)
    if o.bench:
        kept = [bundle / r["file"] for r in res.rows if r["kept"]]
        b = bench(kept, BenchOptions(threads=[o.threads], runs=o.bench_runs), reporter)
        rec["bench"] = b.rows
    return rec


def sweep(run: Run, workspace: Path, o: SweepOptions, reporter: Reporter | None = None) -> tuple[Path, list[dict]]:
    validate(o)
    reporter = reporter or Silent()
    folder = Path(o.out) if o.out else Path("sweeps") / run.name
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / RESULTS
    done = done_keys(results)
    todo = [c for c in cells(o)]
    reporter.task(f"sweep ({len(todo)} cells)", len(todo))
    inner = _LogOnly(reporter)
    records = []
    for c in todo:
        prev = done.get(c.key)
        if prev and not prev.get("error"):
            reporter.log(f"{c.key}: done earlier, skipped")
            records.append(prev)
            reporter.advance(1)
            continue
        reporter.log(f"[bold]{c.key}[/]")
        t0 = time.perf_counter()
        try:
            rec = run_cell(c, run, workspace, folder, o, inner)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failed cell is recorded and the sweep goes on
            msg = str(exc) if isinstance(exc, UserError) else f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
            rec = {"kind": "edgeprune-sweep-cell", "cell": c.key, "method": c.method, "value": c.value,
                   "parent": run.name, "error": msg}
            if not isinstance(exc, UserError):
                rec["traceback"] = traceback.format_exc(limit=5)
            reporter.log(f"[red]{c.key} failed[/]: {msg}")
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        _append(results, rec)
        records.append(rec)
        reporter.advance(1)
    reporter.done()
    write_csv(folder / "results.csv", records)
    return folder, records


CSV_COLUMNS = ["cell", "method", "value", "run", "val_accuracy", "test_accuracy", "sparsity", "params", "nonzero_params",
               "macs", "fp32_gzip_bytes", "seconds", "error"]


def write_csv(path: Path, records: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({k: r.get(k) for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())
