"""`edgeprune optimize`: name a latency budget (and a size budget), get the most accurate model that meets it as
measured on the device.

1. Every option is checked and the plan made from the latency table (``optimize_plan``) before anything trains.
2. The candidates run through the sweep machinery (``cells.run_cell`` on the local or Ray executor), resumable: each
   cell's row is appended to the result folder's results.jsonl as a sweep's is, and a rerun skips the done ones.
3. The candidate files are timed on the device: here (the bench's interleaved rounds), on a Ray node holding the
   device's resource (``--bench-on``), or handed off (``candidates/`` to copy to the device, where `edgeprune bench
   --json` runs; ``--resume --bench DEVICE.json`` finishes). A bench file is untrusted: its rows are matched to the
   candidates by name (``<cell>/<file>``), and no path in it is ever followed.
4. The pick (``optimize_pick``), optimize.json, report.md (with the Pareto plot when matplotlib is installed) and the
   pick's bundle in ``pick/``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import formats
from ..errors import UserError
from ..jsonio import write_json
from ..options import default_of, recorded
from ..options.optimize import OptimizeOptions
from ..paths import check_not_protected
from ..progress import Reporter, Silent
from ..records import BenchRow, LatencyTable, OptimizeCandidate, OptimizeRecord, SweepCell
from ..workspace import Run, check_name, output_folder
from . import executors
from .cells import SweepOptions, prune_options
from .optimize_plan import Plan, Planned, make_plan
from .optimize_pick import pick as pick_rule

RESULT = "optimize.json"
RESULTS = "results.jsonl"
CANDIDATES = "candidates"
PICK = "pick"
BENCH = "bench.json"
COMPANIONS = ("export.json", "model.json", "labels.txt", "testset.npz")  # what a bundle's file needs beside it


@dataclass
class Outcome:
    folder: Path
    plan: Plan
    record: OptimizeRecord | None  # None after --dry-run
    handed_off: bool = False


def folder_of(run: Run, workspace: Path, o: OptimizeOptions) -> Path:
    return output_folder(workspace, "sweep", o.out, f"{run.name}-optimize")


def check_options(o: OptimizeOptions) -> None:
    """What can be checked without the run or the table."""
    import math

    from ..device.bench import BenchOptions

    if o.latency_table is None or o.max_ms is None:
        raise UserError("optimize needs --latency-table TABLE (made by `edgeprune latency measure` on the device) and "
                        "--max-ms X (ms, or a fraction of the dense model's prediction such as 0.5x)")
    formats.check_names(o.formats)
    if len(set(o.formats)) != len(o.formats):
        raise UserError("--formats names a format twice")
    if o.max_kb is not None and not (math.isfinite(o.max_kb) and o.max_kb > 0):
        raise UserError(f"--max-kb must be a positive number of kB, got {o.max_kb}")
    if o.min_accuracy is not None and not 0 <= o.min_accuracy <= 1:
        raise UserError(f"--min-accuracy is a fraction from 0 to 1, got {o.min_accuracy}")
    if o.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if o.round_to is not None and o.round_to < 1:
        raise UserError("--round-to must be at least 1")
    if o.handoff and o.bench_on:
        raise UserError("--handoff writes the candidates for the device; --bench-on times them on a Ray node: choose one")
    if o.bench_on is not None and (o.executor != "ray" or not o.bench_on.strip()):
        raise UserError("--bench-on RESOURCE names a Ray resource; it needs --executor ray")
    if o.bench is not None and not o.resume:
        raise UserError("--bench DEVICE.json finishes a handed-off optimize: pass it with --resume")
    if o.bench is not None and (o.handoff or o.bench_on):
        raise UserError("--bench gives the device's measurements: leave out --handoff and --bench-on")
    BenchOptions(rounds=o.rounds, min_time_s=o.min_time_s).check()


def _sweep_options(o: OptimizeOptions, folder: Path, p: Planned, round_to: int) -> SweepOptions:
    """The sweep options of one candidate's cell (a target cell takes its own format's table rows)."""
    return SweepOptions(methods=[p.cell.method if p.cell.method != "none" else "filter"], formats=list(o.formats),
                        hybrid_ratio=p.hybrid_ratio, epochs=o.epochs, lr=o.lr, batch_size=o.batch_size,
                        criterion=o.criterion, round_to=round_to, lr_schedule=o.lr_schedule, scratch=o.scratch,
                        scratch_budget=o.scratch_budget,
                        out=str(folder), executor=o.executor, address=o.address, cpus_per_cell=o.cpus_per_cell,
                        latency_table=str(Path(o.latency_table).resolve()), latency_format=p.latency_format)


def resumed_options(o: OptimizeOptions, folder: Path, run_name: str) -> tuple[OptimizeOptions, OptimizeRecord | None]:
    """With --resume: the recorded options of the optimize in ``folder``, where the command line gives none other."""
    from ..readers import read_optimize

    path = folder / RESULT
    if not o.resume:
        if path.exists() or (folder / RESULTS).exists():
            if not o.force:
                raise UserError(f"{folder} holds an optimize already; --resume continues it, --force starts anew")
            if not path.is_file():
                raise UserError(f"{folder} is not an optimize's folder (no {RESULT}); choose another --out")
        return o, None
    if not path.is_file():
        raise UserError(f"nothing to resume: {folder} holds no {RESULT}; start the optimize without --resume")
    rec = read_optimize(path)
    if rec.run != run_name:
        raise UserError(f"{path} is an optimize of run {rec.run!r}, not {run_name!r}; name that run, or another --out")
    saved = rec.options
    fields = {f.name: f for f in dataclasses.fields(OptimizeOptions)}
    kw = {}
    for name, value in recorded(o).items():
        if name not in saved:
            kw[name] = value
            continue
        given = getattr(o, name)
        if given != default_of(fields[name]) and _plain(given) != saved[name]:
            raise UserError(f"--{name.replace('_', '-')} differs from the optimize being resumed ({saved[name]!r}); "
                            "leave it out, or start anew with --force")
        kw[name] = saved[name]
    merged = dataclasses.replace(o, **kw)
    try:
        check_options(merged)
    except UserError as exc:
        raise UserError(f"{path}: its recorded options do not check ({exc})") from None
    return merged, rec


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def prepare(run: Run, workspace: Path, o: OptimizeOptions) -> tuple[OptimizeOptions, Path, LatencyTable, Plan, OptimizeRecord | None]:
    """Every option checked and the plan made; nothing written."""
    from ..pruner import validate as validate_prune
    from ..readers import read_latency_table

    folder = folder_of(run, workspace, o)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a folder for the optimize with --out")
    if not o.resume:
        check_options(o)
    o, old = resumed_options(o, folder, run.name)
    if o.resume and o.bench is None:
        check_options(o)
    if o.bench is not None:
        from ..readers import read_bench_file

        read_bench_file(o.bench)  # whole, before anything else
    table = read_latency_table(o.latency_table)
    info = run.info
    if table.probe.model.image_size != info.image_size:
        raise UserError(f"{o.latency_table} was made for a model at {table.probe.model.image_size} px, this run is at "
                        f"{info.image_size} px; probe this run and measure again")
    per_epoch = info.seconds / info.epochs_run if info.seconds and info.epochs_run else None
    plan = make_plan(o, table, info.params, per_epoch)
    for p in plan.cells:
        if p.cell.finetune:
            validate_prune(prune_options(p.cell, _sweep_options(o, folder, p, plan.round_to), "x"))
    so = _sweep_options(o, folder, plan.cells[0], plan.round_to)
    executors.get(o.executor).check(so)
    return o, folder, table, plan, old


def _log_only(reporter: Reporter):
    from .sweep import _LogOnly

    return _LogOnly(reporter)


def run_cells(run: Run, workspace: Path, folder: Path, o: OptimizeOptions, plan: Plan,
              reporter: Reporter) -> dict[str, SweepCell]:
    """Every candidate's cell, through the sweep's executors; a cell recorded earlier with the same options is
    skipped. Cells of one target format share a sweep's options, so they go to the executor together."""
    from .sweep import _append, done_keys

    results = folder / RESULTS
    done = done_keys(results)
    records: dict[str, SweepCell] = {}
    groups: dict[tuple, tuple[SweepOptions, list]] = {}
    for p in plan.cells:
        so = _sweep_options(o, folder, p, plan.round_to)
        prev = done.get(p.key)
        if prev and not prev.error and prev.options == recorded(so):
            reporter.log(f"{p.key}: done earlier, skipped")
            records[p.key] = prev
            continue
        groups.setdefault((p.latency_format, p.hybrid_ratio), (so, []))[1].append(p.cell)

    def finished(rec: SweepCell) -> None:
        if rec.error:
            reporter.log(f"{rec.cell} failed: {rec.error}")
        _append(results, rec)
        records[rec.cell] = rec
        reporter.advance(1)

    todo = sum(len(cs) for _, cs in groups.values())
    reporter.task(f"optimize: {todo} of {len(plan.cells)} candidates to train and export", todo)
    inner = _log_only(reporter)
    for so, cs in groups.values():
        executors.get(o.executor).run(executors.SweepJob(run, Path(workspace), folder, so, cs, inner), finished)
    reporter.done()
    return records


def _candidates(plan: Plan, cells: dict[str, SweepCell], workspace: Path) -> list[OptimizeCandidate]:
    out = []
    for p in plan.cells:
        rec = cells.get(p.key)
        files = {f.get("format"): f for f in (rec.files if rec else []) if f.get("kept")}
        for fmt in plan.formats:
            row = files.get(fmt)
            name = row["file"] if row else f"{fmt}.tflite"
            c = OptimizeCandidate(key=f"{p.key}/{name}", cell=p.key, file=name, format=fmt, method=p.cell.method,
                                  options=dict(p.about), predicted_ms=p.predicted_ms.get(fmt),
                                  predicted_bytes=p.predicted_bytes.get(fmt))
            if rec is None or rec.error or row is None:
                c.lost = "failed"
                c.why = (rec.error if rec and rec.error else f"no {fmt} file was exported") if rec else "not run"
            else:
                c.bytes, c.gzip_bytes, c.accuracy = row.get("bytes"), row.get("gzip_bytes"), row.get("accuracy")
                c.test_correct = rec.test_correct
                if not plan.worth_timing(p, fmt):
                    c.lost, c.why = "not measured", (f"predicted {c.predicted_ms:.4g} ms, far over the budget of "
                                                     f"{plan.max_ms:.4g} ms")
                c.vs_scratch = _vs_scratch(workspace, rec)
            out.append(c)
    return out


def _vs_scratch(workspace: Path, rec: SweepCell) -> dict | None:
    """The cell's run's paired difference from its scratch twin, when one was trained."""
    from ..readers import read_run

    if not rec.run:
        return None
    try:
        return read_run(Path(workspace) / check_name(rec.run) / "run.json").vs_scratch
    except UserError:
        return None


def _to_time(cands: list[OptimizeCandidate]) -> list[OptimizeCandidate]:
    return [c for c in cands if c.lost is None]


def _clear(path: Path) -> None:
    """Remove an output of ours before it is written again (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _copy_bundle_files(src: Path, dest: Path, files: list[str]) -> None:
    """The named files of a bundle and its companions, copied into a staging folder renamed into place."""
    staging = dest.with_name(f".{dest.name}.partial")
    _clear(staging)
    staging.mkdir(parents=True)
    for name in [*files, *COMPANIONS]:
        f = src / check_name(name)
        if f.is_file() and not f.is_symlink():
            shutil.copy2(f, staging / name)
    _clear(dest)
    staging.rename(dest)


def hand_off(folder: Path, cands: list[OptimizeCandidate], out: Path | None = None) -> Path:
    """candidates/<cell>/ (or ``out``/<cell>/): each cell's files worth timing, with the bundle's labels, card and
    test set."""
    out = out or folder / CANDIDATES
    by_cell: dict[str, list[str]] = {}
    for c in _to_time(cands):
        by_cell.setdefault(c.cell, []).append(c.file)
    _clear(out)
    out.mkdir(parents=True)
    for cell, files in by_cell.items():
        _copy_bundle_files(folder / "exports" / cell, out / cell, files)
    return out


def bench_here(folder: Path, cands: list[OptimizeCandidate], o: OptimizeOptions, threads: int | None,
               reporter: Reporter) -> tuple[list[BenchRow], dict]:
    from ..device.bench import BenchOptions, bench, save_json

    files = [folder / "exports" / c.cell / c.file for c in _to_time(cands)]
    res = bench(files, BenchOptions(threads=[threads], rounds=o.rounds, min_time_s=o.min_time_s, predictions=True),
                reporter)
    save_json(res, folder / BENCH, append=False)
    return res.rows, res.device


def bench_on_ray(folder: Path, cands: list[OptimizeCandidate], o: OptimizeOptions, threads: int | None,
                 reporter: Reporter) -> tuple[list[BenchRow], dict]:
    """Every candidate file timed in one bench call, interleaved, on a node holding the --bench-on resource."""
    from .executors.ray_cluster import auth_env, connect
    from .executors.transfer import pack_folder, relocate

    staging = folder / ".bench-on"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        hand = hand_off(folder, cands, staging / CANDIDATES)
        auth_env(o.address)
        import ray

        connect(ray, o.address)
        try:
            task = ray.remote(_bench_task).options(num_cpus=0, resources={o.bench_on: 1})
            reporter.log(f"timing {len(_to_time(cands))} files on a node holding {o.bench_on}")
            out = ray.get(task.remote(pack_folder(hand), threads, o.rounds, o.min_time_s))
            rows = relocate(out["rows"], [(out["root"], str((folder / "exports").resolve()))])
            rows = [BenchRow.from_dict(r, f"bench row from {str(out.get('node'))[:60]}") for r in rows]
        except (ray.exceptions.RayError, KeyError, TypeError, ValueError, RecursionError) as exc:
            raise UserError(f"timing on --bench-on {o.bench_on} failed ({exc.__class__.__name__}: "
                            f"{str(exc)[:200]}); rerun with --resume: the trained candidates are kept") from None
        finally:
            ray.shutdown()
        device = out.get("device") if isinstance(out.get("device"), dict) else {}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from ..device.bench import BenchResult, save_json

    save_json(BenchResult(device, rows), folder / BENCH, append=False)
    return rows, device


def _bench_task(blob: bytes, threads: int | None, rounds: int, min_time_s: float) -> dict:
    """Runs on the device's node: the handed-off candidates benched there, as `edgeprune bench` would."""
    import socket
    import tempfile

    from ..device.bench import BenchOptions, bench
    from .executors.transfer import unpack_folder

    tmp = Path(tempfile.mkdtemp(prefix="edgeprune-optimize-"))
    try:
        unpack_folder(blob, tmp)
        files = sorted(str(p) for p in tmp.glob("*/*.tflite"))
        res = bench(files, BenchOptions(threads=[threads], rounds=rounds, min_time_s=min_time_s, predictions=True))
        return {"root": str(tmp), "rows": [r.to_dict() for r in res.rows], "device": res.device,
                "node": socket.gethostname()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_file(path: str, cands: list[OptimizeCandidate], threads: int | None, notes: list[str]) -> tuple[list[BenchRow], dict]:
    """The rows of a bench file from the device that measured candidates (by name), at the table's threads."""
    from ..readers import read_bench_file

    doc = read_bench_file(path)
    keys = {c.key for c in cands}
    rows = []
    for r in doc.results:
        if r.self_check:
            continue
        name = r.name or ""
        if name not in keys:
            notes.append(f"{path}: {name[:80] or r.model[:80]} is not a candidate of this optimize; passed over")
            continue
        if threads is not None and r.threads != threads and not r.error:
            notes.append(f"{path}: {name} was measured at {r.threads} thread(s), the table at {threads}; passed over")
            continue
        rows.append(r)
    if not rows:
        raise UserError(f"{path} measured none of this optimize's candidates (at {threads or 'all'} thread(s)); bench "
                        f"the files of its {CANDIDATES}/ folder on the device with --threads {threads or 'N'}")
    return rows, doc.device or (rows[0].device or {})


def _labels(folder: Path) -> np.ndarray | None:
    from ..device.testdata import load_npz

    try:
        return load_npz(folder / "exports" / "dense" / "testset.npz")[1]
    except (UserError, OSError):
        return None


def attach(cands: list[OptimizeCandidate], rows: list[BenchRow], labels: np.ndarray | None) -> None:
    """Each candidate's measurement: p50 with its interval, sizes, accuracy, and which test images it got right."""
    from ..paired_accuracy import pack

    by = {r.name: r for r in rows}
    for c in cands:
        r = by.get(c.key)
        if c.lost is not None or r is None:
            if c.lost is None:
                c.lost, c.why = "not measured", "the device's bench has no row for it"
            continue
        if r.error:
            c.lost, c.why = "failed", f"on the device: {r.error[:200]}"
            continue
        c.measured, c.p50_ms = True, r.p50
        c.p50_ci = list(r.p50_ci) if r.p50_ci and len(r.p50_ci) == 2 else [r.p50, r.p50]
        c.bytes, c.gzip_bytes = r.bytes or c.bytes, r.gzip_bytes or c.gzip_bytes
        if r.accuracy is not None:
            c.accuracy = r.accuracy
        if r.predictions is not None and labels is not None and len(r.predictions) == len(labels):
            c.test_correct = pack(np.asarray(r.predictions) == labels)


MAX_STRUCTURE_BYTES = 1 << 30  # a file larger than any model edgeprune exports is not read to be compared
MAX_POOLED_ROUNDS = 1000  # rounds a bench row may bring into a pooled interval (a forged file may hold millions)


def graph_structure(path: Path) -> str | None:
    """A digest of the file's graph without its weights: each op and its tensors, and every tensor's shape, type and
    quantization layout (how many scales, along which axis, in blocks or not). Two files that share it run the same
    kernels on the same shapes (the dense model and its fine-tuned control, in one format). A file with a sparse
    tensor has none (XNNPACK's sparse kernels depend on how sparse it is), nor has an unreadable file."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_STRUCTURE_BYTES:
            return None
        from ai_edge_litert import schema_py_generated as fb

        m = fb.Model.GetRootAs(path.read_bytes(), 0)
        parts: list = []
        for s in range(m.SubgraphsLength()):
            sg = m.Subgraphs(s)
            for i in range(sg.OperatorsLength()):
                op = sg.Operators(i)
                code = m.OperatorCodes(op.OpcodeIndex())
                parts.append(("op", max(code.BuiltinCode(), code.DeprecatedBuiltinCode()),
                              op.InputsAsNumpy().tolist() if op.InputsLength() else [],
                              op.OutputsAsNumpy().tolist() if op.OutputsLength() else []))
            for i in range(sg.TensorsLength()):
                t = sg.Tensors(i)
                if t.Sparsity() is not None:
                    return None
                q = t.Quantization()
                layout = (q.ScaleLength(), q.QuantizedDimension(), q.DetailsType()) if q is not None else None
                parts.append(("tensor", t.ShapeAsNumpy().tolist() if t.ShapeLength() else [], t.Type(), layout))
        return hashlib.sha256(repr(parts).encode()).hexdigest()
    except Exception:  # not a flatbuffer we can read, or no schema: timed alone
        return None


MIN_CHECK_ROUNDS = 5  # below this a ratio's interval cannot tell two speeds apart: the graph alone decides


def _same_speed(a: list[float], b: list[float]) -> bool:
    """The 95 % interval of the per-round ratio a / b holds 1 (with too few rounds to tell: True)."""
    from ..device.intervals import bootstrap_ci, paired_ratios

    ratios = paired_ratios(a, b)
    if len(ratios) < MIN_CHECK_ROUNDS:
        return True
    lo, hi = bootstrap_ci(ratios)
    return lo <= 1.0 <= hi


def pool_twins(cands: list[OptimizeCandidate], rows: list[BenchRow], structure) -> None:
    """Candidates of one format whose files share a graph (``structure(candidate)``) and whose timings agree (the
    interval of their per-round ratio holds 1) get one latency. Their files ran in the same rounds of one bench call:
    each round's p50 is the mean over the twins, and the latency is the median of those, with the bootstrap interval
    over rounds, as for one file. Each keeps its own figures in ``own_p50_ms`` and ``own_p50_ci``."""
    from ..device.intervals import bootstrap_ci

    by = {r.name: r for r in rows}
    sets: dict[tuple, list[OptimizeCandidate]] = {}
    for c in cands:
        r = by.get(c.key)
        if c.measured and c.lost not in ("failed", "not measured") and r is not None and r.p50_rounds:
            key = structure(c)
            if key is not None:
                sets.setdefault((c.format, key), []).append(c)
    for twins in sets.values():
        rounds = [list(by[c.key].p50_rounds[:MAX_POOLED_ROUNDS]) for c in twins]
        n = min(len(r) for r in rounds)
        if len(twins) < 2 or n < 2:
            continue
        if not all(_same_speed(rounds[0][:n], r[:n]) for r in rounds[1:]):
            continue  # measurably different speeds: not one computation after all
        per_round = [float(np.mean([r[i] for r in rounds])) for i in range(n)]
        p50, ci = float(np.median(per_round)), list(bootstrap_ci(per_round))
        for c in twins:
            c.own_p50_ms, c.own_p50_ci = c.p50_ms, c.p50_ci
            c.p50_ms, c.p50_ci = p50, ci
            c.timed_with = [o.key for o in twins if o is not c]


def _pick_bundle(folder: Path, c: OptimizeCandidate) -> str:
    _copy_bundle_files(folder / "exports" / c.cell, folder / PICK, [c.file])
    return f"{PICK}/{c.file}"


def _write(folder: Path, rec: OptimizeRecord) -> None:
    write_json(folder / RESULT, rec.to_dict())


def optimize(run: Run, workspace: Path, o: OptimizeOptions, reporter: Reporter | None = None,
             prepared: tuple | None = None) -> Outcome:
    reporter = reporter or Silent()
    o, folder, table, plan, old = prepared or prepare(run, workspace, o)
    if o.dry_run:
        return Outcome(folder, plan, None)
    t0 = time.perf_counter()
    if old is None and folder.exists() and (folder / RESULT).is_file():  # --force: an optimize's own folder
        check_not_protected(folder, "optimize folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rec = OptimizeRecord(run=run.name, state="planned", options=recorded(o), max_ms=plan.max_ms, max_kb=o.max_kb,
                         min_accuracy=o.min_accuracy, threads=table.threads, table_device=table.device,
                         seconds=old.seconds if old else 0.0)
    if old is not None and old.state == "handed off" and o.bench is None and not o.handoff:
        rec.notes.append("resumed after a hand-off without --bench: timed here")
    rec.candidates = [OptimizeCandidate(key=f"{p.key}/{f}.tflite", cell=p.key, file=f"{f}.tflite", format=f,
                                        method=p.cell.method, options=dict(p.about), predicted_ms=p.predicted_ms.get(f),
                                        predicted_bytes=p.predicted_bytes.get(f)) for p, f in plan.candidates()]
    if old is None:
        _write(folder, rec)  # the options, so an interrupted optimize resumes with them
    cells = run_cells(run, workspace, folder, o, plan, reporter)
    rec.cells_seconds = round(sum(c.seconds or 0 for c in cells.values()), 1)
    cands = _candidates(plan, cells, workspace)
    rec.candidates = cands
    if not _to_time(cands):
        rec.seconds = round((rec.seconds or 0) + time.perf_counter() - t0, 1)
        _write(folder, rec)
        raise UserError(f"no candidate could be timed: every one failed or is predicted far over the budget (see "
                        f"{folder / RESULTS})")
    if o.handoff:
        hand_off(folder, cands)
        rec.state = "handed off"
        rec.seconds = round((rec.seconds or 0) + time.perf_counter() - t0, 1)
        _write(folder, rec)
        return Outcome(folder, plan, rec, handed_off=True)
    notes: list[str] = []
    if o.bench is not None:
        rows, device = bench_file(o.bench, cands, table.threads, notes)
        rec.measured_by = str(Path(o.bench).resolve())
    elif o.bench_on:
        rows, device = bench_on_ray(folder, cands, o, table.threads, reporter)
        rec.measured_by = f"ray:{o.bench_on}"
    else:
        rows, device = bench_here(folder, cands, o, table.threads, reporter)
        rec.measured_by = "local"
    from ..device.sysinfo import device_mismatch

    diff = device_mismatch(device, table.device, ("the bench", "the latency table"))
    if diff:
        notes.append(f"the candidates were timed on another device than the table's ({diff}): the predictions may "
                     "be off, the pick rests on the timings")
    attach(cands, rows, _labels(folder))
    pool_twins(cands, rows, lambda c: graph_structure(folder / "exports" / c.cell / c.file))
    res = pick_rule(cands, plan.max_ms, o.max_kb, o.min_accuracy)
    rec.device, rec.notes = device, rec.notes + notes
    rec.state, rec.message, rec.tie, rec.tied_with = "done", res.message, res.tie, res.tied_with
    rec.pick = res.pick.key if res.pick else None
    rec.pick_file = _pick_bundle(folder, res.pick) if res.pick else None
    rec.seconds = round((rec.seconds or 0) + time.perf_counter() - t0, 1)
    _write(folder, rec)
    from .optimize_report import write_report

    write_report(folder, rec, plan)
    return Outcome(folder, plan, rec)

