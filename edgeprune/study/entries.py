"""One row per exported TFLite file, with the figures of the run it came from and its latencies per device.

Sweep results, export bundles and bench JSON (from this machine or a Raspberry Pi) all become these rows, so one
report compares them like with like.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import methods
from ..device.sysinfo import device_label
from ..errors import UserError
from ..jsonio import read_json
from ..paths import is_inside
from ..readers import read_bench_file, read_export, read_sensitivity, read_sweep_cells
from ..records import BenchRow, PruningRecord, SourceRun


@dataclass
class Entry:
    bundle: str  # bundle folder name (the join key with bench rows: "<bundle>/<file>")
    file: str
    format: str
    sparse: bool | None
    bytes: int | None
    gzip_bytes: int | None
    naive_bound_bytes: int | None
    accuracy: float | None  # this file's top-1 on the run's test split
    run: str | None = None
    parent: str | None = None  # the run it was pruned or fine-tuned from; None for a trained model
    method: str = "none"
    target: float | None = None  # target sparsity (weight) or ratio (filter); hybrid: "ratio/sparsity"
    ratio: float | None = None
    sparsity: float | None = None  # measured, over pruned kernels
    params: int | None = None
    nonzero_params: int | None = None
    macs: int | None = None
    keras_test_accuracy: float | None = None
    control_test_accuracy: float | None = None
    entropy_floor_bytes: int | None = None
    test_correct: str | None = None  # paired_accuracy.pack of the run's Keras model (paired comparisons)
    control_test_correct: str | None = None
    scratch_test_accuracy: float | None = None  # the scratch twin (prune --scratch)
    scratch_test_correct: str | None = None
    options: dict | None = None  # the run's recorded prune options (distillation, schedule, steps, seed)
    predicted_ms: float | None = None  # a latency-budget run: the table's prediction for this file's format
    latency: dict[str, dict] = field(default_factory=dict)  # device label -> {p50, p99, threads, accuracy}
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.bundle}/{self.file}"

    @property
    def label(self) -> str:
        return self.bundle


def devices(entries: list[Entry]) -> list[str]:
    out: list[str] = []
    for e in entries:
        for d in e.latency:
            if d not in out:
                out.append(d)
    return out


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (smaller x and higher y is better)."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -1.0
    for i in idx:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def entries_from_bundle(folder: Path) -> list[Entry]:
    exp, card = read_export(folder)
    src = card.source_run or SourceRun()
    method = src.method or "none"
    plugin = methods.find(method)  # a method this installation does not know: its row has no target
    fields = plugin.report_fields(src.pruning or PruningRecord()) if plugin else {}
    return [Entry(bundle=folder.name, file=row.file, format=row.format, sparse=row.sparse, bytes=row.bytes,
                  gzip_bytes=row.gzip_bytes, naive_bound_bytes=row.naive_bound_bytes, accuracy=row.accuracy, run=src.name,
                  entropy_floor_bytes=row.entropy_floor_bytes,
                  parent=src.parent, method=method, target=fields.get("target"), ratio=fields.get("ratio"),
                  sparsity=fields.get("sparsity"), params=src.params, nonzero_params=src.nonzero_params, macs=src.macs,
                  keras_test_accuracy=src.test_accuracy, test_correct=src.test_correct, options=src.options,
                  predicted_ms=fields.get("predicted_ms") if fields.get("predicted_format") == row.format else None,
                  control_test_accuracy=src.control.test_accuracy if src.control else None,
                  control_test_correct=src.control.test_correct if src.control else None,
                  scratch_test_accuracy=(src.scratch or {}).get("test_accuracy"),
                  scratch_test_correct=(src.scratch or {}).get("test_correct"))
            for row in exp.kept()]


def entry_from_bench_row(r: BenchRow) -> Entry:
    """A row for a file whose bundle is not on this machine: only what the bench measured (size, accuracy)."""
    p = Path(r.model)
    return Entry(bundle=p.parent.name, file=p.name, format=r.format or p.stem, sparse=r.sparse, bytes=r.bytes,
                 gzip_bytes=r.gzip_bytes, naive_bound_bytes=None, accuracy=r.accuracy, method="-")


def bench_key(r: BenchRow) -> str:
    p = Path(r.model)
    return f"{p.parent.name}/{p.name}"


def attach_bench(entries: list[Entry], rows: list[BenchRow]) -> list[BenchRow]:
    """Join bench rows to entries by '<bundle>/<file>'; returns the rows no entry matched."""
    by_key = {e.key: e for e in entries}
    unmatched = []
    for r in rows:
        if r.error or r.latency_ms is None:
            continue
        e = by_key.get(bench_key(r))
        if e is None:
            unmatched.append(r)
            continue
        e.latency[device_label(r.device, r.threads)] = {
            "p50": r.latency_ms.p50, "p99": r.latency_ms.p99, "threads": r.threads, "accuracy": r.accuracy,
            "runtime": (r.runtime or {}).get("name")}
    return unmatched


def entries_for_unmatched(rows: list[BenchRow], warnings: list[str]) -> list[Entry]:
    """Entries for bench rows that no given bundle holds: from their bundle folder when it exists here (found from
    the row's path), else from the row alone."""
    out: list[Entry] = []
    folders: dict[Path, list[Entry] | None] = {}
    for r in rows:
        folder = Path(r.model).parent
        if folder not in folders:
            folders[folder] = None
            if (folder / "export.json").is_file():
                try:
                    folders[folder] = entries_from_bundle(folder)
                    out.extend(folders[folder])
                except UserError as exc:
                    warnings.append(str(exc))
        found = folders[folder]
        if not found or bench_key(r) not in {e.key for e in found}:
            if bench_key(r) not in {e.key for e in out}:
                out.append(entry_from_bench_row(r))
    return out


def sweep_bundle(folder: Path, named: str) -> Path | None:
    """A bundle a sweep file names, confined to the sweep's folder; a moved sweep folder is found by the bundle's
    name under its exports/. None when neither is an existing folder inside the sweep folder."""
    root = folder.resolve()
    for cand in (Path(named), root / "exports" / Path(named).name):
        real = (root / cand).resolve()
        if is_inside(root, real) and real != root and real.is_dir():
            return real
    return None


def load_inputs(paths: list[Path]) -> tuple[list[Entry], list[str], dict | None]:
    """Entries from sweep results, bundle folders and bench JSON; a bad file is one warning, the rest is read."""
    entries: list[Entry] = []
    benches: list[dict] = []
    warnings: list[str] = []
    sensitivity = None
    for p in paths:
        p = Path(p)
        try:
            if not p.exists():
                raise UserError(f"{p} not found")
            if p.is_dir():
                bundles = [p] if (p / "export.json").is_file() else sorted(q.parent for q in p.rglob("export.json"))
                if not bundles:
                    raise UserError(f"{p} holds no export bundle (export.json)")
                for b in bundles:
                    entries.extend(entries_from_bundle(b))
            elif p.suffix == ".jsonl":
                cells, passed_over = read_sweep_cells(p)  # a retried cell: its last record counts
                warnings.extend(passed_over)
                # a cell's control: the sweep's control with the same fine-tuning length and seed
                controls = {(d.epochs, d.seed): d for k, d in cells.items() if k.startswith("control") and not d.error}
                missing: list[str] = []
                for d in cells.values():
                    control = controls.get((d.epochs, d.seed))
                    for named in d.bundles:
                        b = sweep_bundle(p.parent, named)
                        if b is None:
                            missing.append(Path(named).name)
                        else:
                            for e in entries_from_bundle(b):
                                if control and e.method != "none" and e.control_test_accuracy is None:
                                    e.control_test_accuracy = control.test_accuracy
                                    e.control_test_correct = control.test_correct
                                entries.append(e)
                    benches.extend(d.bench)
                if missing:
                    warnings.append(f"{p}: {len(missing)} bundle folder(s) it names are not in {p.parent / 'exports'} "
                                    f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): their rows are left "
                                    "out; copy the sweep folder whole, exports/ included")
            else:
                doc = read_json(p, what="results file")
                kind = doc.get("kind") if isinstance(doc, dict) else None
                if kind == "edgeprune-bench":
                    benches.extend(read_bench_file(p).results)
                elif kind == "edgeprune-sensitivity":
                    sensitivity = read_sensitivity(p).to_dict()
                elif kind == "edgeprune-export":
                    entries.extend(entries_from_bundle(p.parent))
                else:
                    raise UserError(f"{p} is not an edgeprune results file (sweep, bench, export or sensitivity)")
        except UserError as exc:
            warnings.append(str(exc))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
            warnings.append(f"{p}: not a results file of a known shape ({exc.__class__.__name__}: {str(exc)[:200]})")
    seen: dict[str, Entry] = {}
    for e in entries:  # the same bundle named twice (a folder and a sweep file) counts once, keeping what either knew
        if e.key in seen and seen[e.key].control_test_accuracy is not None and e.control_test_accuracy is None:
            e.control_test_accuracy = seen[e.key].control_test_accuracy
            e.control_test_correct = seen[e.key].control_test_correct
        seen[e.key] = e
    entries = list(seen.values())
    unmatched = attach_bench(entries, benches)
    if unmatched:
        found = entries_for_unmatched(unmatched, warnings)
        entries.extend(found)
        attach_bench(found, unmatched)
        alone = sum(1 for e in found if e.method == "-")
        if alone:
            warnings.append(f"{alone} bench row(s) name files whose bundle is not on this machine (e.g. "
                            f"{next(e.key for e in found if e.method == '-')}): their rows show only what the bench "
                            "measured; pass the bundle folders for the rest")
    return entries, warnings, sensitivity
