"""`edgeprune sweep`: prune, export and bench a grid of methods x values, resumable, into one results file."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
from pathlib import Path

from .. import formats, methods
from ..errors import UserError
from ..jsonio import atomic_write_text, to_jsonable
from ..progress import Reporter, Silent
from ..options import same_options
from ..readers import read_sweep_cells
from ..records import SweepCell
from ..workspace import Run, output_folder
from . import executors
from .cells import (  # noqa: F401  (Cell, prune_options, reusable_run: the sweep's API, used by tests)
    DISTILL_MODES,
    Cell,
    SweepOptions,
    bench_cell,
    cell_options,
    cells,
    prune_options,
    reusable_run,
)
from .executors import SweepJob

RESULTS = "results.jsonl"
INTERRUPT_AFTER = "EDGEPRUNE_TEST_INTERRUPT_AFTER"  # SIGINT to itself once this many rows are appended


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


def validate(o: SweepOptions) -> None:
    """Every option of every cell, checked before the first cell runs."""
    from ..pruner import validate as validate_prune

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
    if o.distill not in DISTILL_MODES:
        raise UserError(f"--distill takes {', '.join(DISTILL_MODES)}, got {o.distill!r}")
    if not o.seeds or len(set(o.seeds)) != len(o.seeds):
        raise UserError("--seeds needs distinct seeds, e.g. 1,2,3")
    executors.get(o.executor).check(o)
    for c in cells(o):
        if c.finetune:
            validate_prune(prune_options(c, o, "x"))


def done_keys(path: Path) -> dict[str, SweepCell]:
    """The cells recorded in results.jsonl. A line that is cut (a kill mid-write) or of the wrong shape is passed
    over, so its cell runs again. One that is not a text file (a folder, binary bytes) is refused before any cell."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"{path} is not a regular file; move it aside so the sweep can record its cells there")
    if not path.is_file():
        return {}
    try:
        return read_sweep_cells(path)[0]
    except UserError:
        if path.read_bytes().strip():  # not an empty file: a file of no cells that cannot be read as text
            raise
        return {}


def _append(path: Path, record: SweepCell) -> None:
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + json.dumps(to_jsonable(record.to_dict())) + "\n")


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
    grid = cells(o)
    records: dict[str, SweepCell] = {}
    todo = []
    reporter.task(f"sweep ({len(grid)} cells)", len(grid))
    for c in grid:
        prev = done.get(c.key)
        if prev and not prev.error and same_options(SweepOptions, prev.options, opts):
            reporter.log(f"{c.key}: done earlier, skipped")
            records[c.key] = prev
            reporter.advance(1)
        else:
            todo.append(c)
    inner = _LogOnly(reporter)

    appended = []

    def finished(rec: SweepCell) -> None:
        """A cell's row is in: time its files here unless they were timed elsewhere, then append it."""
        if o.bench and not rec.error and not rec.bench and o.bench_on is None:
            try:
                rec.bench = bench_cell(rec, folder / "exports" / rec.cell, o, inner)
            except UserError as exc:
                rec.error = f"bench: {exc}"
        if rec.error:
            reporter.log(f"{rec.cell} failed: {rec.error}")
        _append(results, rec)
        records[rec.cell] = rec
        reporter.advance(1)
        appended.append(rec.cell)
        if os.environ.get(INTERRUPT_AFTER) == str(len(appended)):  # the resume test's Ctrl-C, where it chooses
            os.kill(os.getpid(), signal.SIGINT)

    executors.get(o.executor).run(SweepJob(run, Path(workspace), folder, o, todo, inner), finished)
    reporter.done()
    ordered = [records[c.key] for c in grid if c.key in records]
    write_csv(folder / "results.csv", ordered)
    return folder, ordered


CSV_COLUMNS = ["cell", "method", "value", "seed", "distill", "run", "val_accuracy", "test_accuracy", "sparsity", "params",
               "nonzero_params", "macs", "fp32_gzip_bytes", "seconds", "attempts", "error"]


def write_csv(path: Path, records: list[SweepCell]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({k: getattr(r, k) for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())
