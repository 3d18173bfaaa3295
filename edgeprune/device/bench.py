"""`edgeprune bench`: measure TFLite files on this device, each in its own child process, and collect one table."""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import formats
from ..errors import UserError
from ..options import opt, parse_items
from ..jsonio import atomic_write_text, check_writable, to_jsonable, write_json
from ..progress import Reporter, Silent
from ..readers import read_bench_file, read_export
from ..records import BenchFile, BenchRow, Latency
from . import runtime as rt
from .child import run_worker
from .defaults import DEFAULT_MIN_TIME_S, DEFAULT_ROUNDS
from .intervals import bootstrap_ci, paired_ratios, resolved
from .measure import Spec, gzip_size, percentiles
from .sysinfo import cpu_id, cpu_temperature_c, device_info, throttled

CSV_COLUMNS = ["model", "format", "threads", "xnnpack", "bytes", "gzip_bytes", "accuracy", "n_images",
               "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "images_per_s", "init_ms", "first_ms",
               "peak_rss_mb", "speedup", "runtime", "runtime_version", "machine", "cpu", "pi_model", "error",
               "macs", "gflops", "cpu_id"]  # the last three are newer than 0.1.0: its CSVs lack them


def parse_threads(text: str | None) -> list[int | None]:
    """--threads: "all" (every core) or positive integers, e.g. 1,2,4."""
    if text in (None, "", "all"):
        return [None]
    vals = parse_items(text, "--threads", int)
    if any(v < 1 for v in vals):
        raise UserError("--threads takes positive integers, e.g. 1,2,4")
    return vals


@dataclass
class BenchOptions:
    """What `edgeprune bench` does, with the command line's defaults: 11 rounds of at least 0.5 s each per file
    (device/defaults.py). A quick look (one round, no minimum time) is asked for explicitly."""

    threads: list[int | None] = opt(factory=lambda: [None], parse=parse_threads, shown="all",
                                    help="Thread counts, e.g. 1,2,4 (default: all cores).")
    xnnpack: bool = opt(True, flag="--xnnpack/--no-xnnpack", help="XNNPACK, or the built-in kernels without it.")
    warmup: int = opt(10, help="Untimed runs before timing.")
    runs: int = opt(100, help="Timed runs at batch 1, per round (at least; see --min-time).")
    min_time_s: float = opt(DEFAULT_MIN_TIME_S, flag="--min-time", help=(
        "Seconds of timed runs per file per round, at least (a short model's 100 runs last milliseconds, and one "
        "burst of other work moves their median)."))
    data: str | None = opt(None, kind=str, help="testset .npz or a folder of class folders (default: the bundle's "
                           "testset.npz).")
    runtime: str | None = opt(None, kind=str, help="ai-edge-litert, tflite-runtime or tensorflow (default: first "
                              "found).")
    max_images: int | None = opt(None, kind=int, help="Score at most N test images.")
    timeout_s: float = opt(900.0, flag="--timeout", help="Seconds one file may take at one thread count before it is "
                           "stopped.")
    fallback: bool = opt(True, cli=False)  # retry with the next runtime when one crashes
    predictions: bool = opt(False, help="Keep every test image's top-1 in the JSON (compare devices image by image).")
    rounds: int = opt(DEFAULT_ROUNDS, help="Interleaved rounds: every file once per round, each in a fresh process; "
                      "p50 and speed-ups get 95 % intervals.")
    self_check: bool = opt(False, help="Bench the first file twice per round: the interval of identical files, i.e. "
                           "the resolution.")

    def check(self) -> None:
        """The user's options, checked before anything is measured."""
        if self.runs < 1 or self.warmup < 0:
            raise UserError("--runs must be at least 1 and --warmup at least 0")
        if not 1 <= self.rounds <= 1000:
            raise UserError("--rounds must be between 1 and 1000")
        if self.max_images is not None and self.max_images < 1:
            raise UserError("--max-images must be at least 1 (leave it out to score every image)")
        if not 0 <= self.min_time_s <= 3600:
            raise UserError("--min-time must be between 0 and 3600 seconds")
        if not self.timeout_s > 0:
            raise UserError("--timeout must be a positive number of seconds")
        if any(t is not None and not 1 <= t <= 256 for t in self.threads):
            raise UserError("--threads takes integers from 1 to 256 (as latency measure), e.g. 1,2,4")
        if self.data:
            p = Path(self.data)
            if not p.exists():
                raise UserError(f"--data not found: {self.data}")
            if not (p.is_dir() or p.is_file()):
                raise UserError(f"--data {self.data} is neither a folder nor a regular file (.npz)")


def run_child(spec: Spec, timeout_s: float) -> dict:
    """Run the worker for one spec; a crash or a hang becomes {'ok': False, 'error': ...} ('crashed' when the
    runtime died, so another runtime may be tried)."""
    res = run_worker("edgeprune.device.worker", asdict(spec), timeout_s)
    if res.timed_out:
        return {"ok": False, "error": res.failure("measuring")}
    out = None if res.crashed else res.json()
    if not isinstance(out, dict):
        return {"ok": False, "error": res.failure("measuring"), "crashed": True}
    return out


def _bundle_facts(model: Path) -> tuple[str, bool | None, int | None]:
    """The format and sparse flag recorded in the bundle's export.json (else guessed from the file name), and the
    model's multiply-accumulates per image from its model card (None when the file is not one of a bundle's, or the
    card does not record them).

    export.json and model.json are as untrusted as the .tflite beside them: one of the wrong shape is a UserError,
    which becomes this file's error row (the other files are still measured)."""
    if (model.parent / "export.json").is_file():
        exp, card = read_export(model.parent)
        for row in exp.files:
            if row.file == model.name:
                macs = card.source_run.macs if card.source_run else None
                return row.format, row.sparse, macs if macs and macs > 0 else None
    return (*formats.from_file_name(model.stem), None)


def bench_one(model: Path, threads: int | None, opts: BenchOptions, device: dict,
              score: bool = True) -> tuple[BenchRow, list[float]]:
    """One file at one thread count in one child process: its row and its raw timings (ms)."""
    row = _measure_row(model, threads, opts, device, score)
    times = row.pop("times_ms", None) or []
    try:
        return BenchRow.from_dict(to_jsonable(row), f"the result of {model.name}"), times
    except UserError as exc:  # a measurement of a shape no row may have: this file's error, never a crash
        return BenchRow(model=str(model), name=row["name"], threads=row["threads"], device=device,
                        error=f"the measurement could not be recorded: {exc}"), []


def _measure_row(model: Path, threads: int | None, opts: BenchOptions, device: dict, score: bool = True) -> dict:
    row: dict = {"model": str(model), "name": model.parent.name + "/" + model.name, "format": None, "sparse": None,
                 "bytes": None, "gzip_bytes": None, "threads": threads or os.cpu_count(), "xnnpack": opts.xnnpack,
                 "device": device, "error": None}
    try:
        row["format"], row["sparse"], row["macs"] = _bundle_facts(model)
    except UserError as exc:
        row["error"] = f"the bundle is damaged: {exc}"
        row["runtime"] = {"name": None, "version": None}
        return row
    if model.is_file():
        data = model.read_bytes()
        row["bytes"], row["gzip_bytes"] = len(data), gzip_size(data)
    row["temperature_c_before"] = cpu_temperature_c()
    spec = Spec(model=str(model), threads=threads or os.cpu_count(), xnnpack=opts.xnnpack, runtime=opts.runtime,
                data=opts.data, warmup=opts.warmup, runs=opts.runs, min_time_s=opts.min_time_s,
                max_images=opts.max_images,
                predictions=opts.predictions, score=score)
    result = run_child(spec, opts.timeout_s)
    tried = [opts.runtime or os.environ.get("EDGEPRUNE_RUNTIME") or (rt.available() or ["?"])[0]]
    if result.get("crashed") and opts.fallback and not opts.runtime:
        for other in [r for r in rt.available() if r not in tried]:
            spec.runtime = other
            retry = run_child(spec, opts.timeout_s)
            tried.append(other)
            if retry.get("ok"):
                retry["note"] = f"{tried[0]} crashed on this file ({result['error']}); measured with {other} instead"
                result = retry
                break
    row["temperature_c_after"] = cpu_temperature_c()
    row["throttled"] = throttled()
    if result.get("ok"):
        result.pop("ok")
        row.update(result)
    else:
        row["error"] = result.get("error", "unknown error")
        row["runtime"] = {"name": tried[-1], "version": None}
    return row


@dataclass
class BenchResult:
    device: dict
    rows: list[BenchRow]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.error)


def bench(models: list[str | Path], opts: BenchOptions, reporter: Reporter | None = None) -> BenchResult:
    """Every file at every thread count, in ``opts.rounds`` interleaved rounds (accuracy is scored in the first)."""
    if not models:
        raise UserError("name at least one .tflite file")
    opts.check()
    reporter = reporter or Silent()
    device = device_info()
    targets = [(Path(m), t, False) for m in models for t in opts.threads]
    if opts.self_check:  # the reference (first file) once more at each thread count
        targets += [(Path(models[0]), t, True) for t in opts.threads]
    per: list[list[BenchRow]] = [[] for _ in targets]
    times: list[list[float]] = [[] for _ in targets]
    reporter.task(f"benchmarking ({opts.rounds} round{'s' if opts.rounds > 1 else ''})", len(targets) * opts.rounds)
    for r in range(opts.rounds):
        for i, (m, t, _) in enumerate(targets):
            if r and per[i][0].error:
                reporter.advance(1)
                continue  # a file that failed once is not tried again
            row, ms = bench_one(m, t, opts, device, score=(r == 0))
            per[i].append(row)
            times[i].extend(ms)
            reporter.advance(1)
    reporter.done()
    rows = [_combine(rs, ts, again) for rs, ts, (_, _, again) in zip(per, times, targets)]
    add_speedups(rows)
    return BenchResult(device, rows)


def _combine(rounds: list[BenchRow], times: list[float], again: bool) -> BenchRow:
    """One row for a file: the first round's figures (accuracy, sizes), latency percentiles over every round's
    timings, and p50 the median of the rounds' p50s with its interval."""
    row = rounds[0]
    if again:
        row.name, row.self_check = f"{row.label} (again)", True
    failed = next((r for r in rounds if r.error), None)
    if failed is not None:
        row.error = failed.error
        return row
    p50s = [r.p50 for r in rounds]
    row.rounds, row.p50_rounds = len(rounds), p50s
    if row.latency_ms is not None:
        if times:
            row.latency_ms = Latency.from_dict(percentiles(np.asarray(times)), "latency")
            row.images_per_s = 1000.0 / row.latency_ms.mean
        row.latency_ms.p50 = float(np.median(p50s))
        row.p50_ci = list(bootstrap_ci(p50s))
    row.gflops = achieved_gflops(row.macs, row.p50)
    return row


def achieved_gflops(macs: int | None, p50_ms: float | None) -> float | None:
    """GFLOP/s the device achieved on the file: 2 FLOPs per multiply-accumulate, per image, at the p50 latency. A
    figure above what the host's cores can do (a Zen 4 core at 2.6 GHz gave about 95 per second of CPU time on the
    study CNN) says the latency was not measured where the row says."""
    if not macs or not p50_ms:
        return None
    return 2.0 * macs / (p50_ms / 1e3) / 1e9


def add_speedups(rows: list[BenchRow]) -> None:
    """Speed-up of each row against the first measured model at the same thread count: the median of the per-round
    p50 ratios (both files measured in the same round), with its bootstrap interval when there are rounds."""
    base: dict = {}
    for r in rows:
        if r.p50 and not r.self_check and r.threads not in base:
            base[r.threads] = r
    for r in rows:
        ref = base.get(r.threads)
        if not r.p50 or ref is None:
            r.speedup = None
            continue
        ratios = paired_ratios(ref.p50_rounds or [ref.p50], r.p50_rounds or [r.p50])
        r.speedup = float(np.median(ratios))
        if len(ratios) > 1 and r is not ref:
            r.speedup_ci = list(bootstrap_ci(ratios))
            r.speedup_resolved = resolved(r.speedup_ci)


def resolution(rows: list[BenchRow]) -> list[BenchRow]:
    """The self-check rows: the reference against itself, whose interval is what these rounds can resolve."""
    return [r for r in rows if r.self_check and r.speedup_ci]


def check_outputs(json_out: Path | None, csv_out: Path | None, append: bool, force: bool) -> None:
    """Before measuring: the output files can be written (a folder, or an existing file without --append or
    --force, is refused now rather than after minutes of measuring)."""
    for path in (json_out, csv_out):
        if path is None:
            continue
        check_writable(path, force or append)
        if not Path(path).parent.is_dir() and Path(path).parent.exists():
            raise UserError(f"{Path(path).parent} is not a folder")
    if append and json_out is not None and Path(json_out).is_file():
        read_bench_file(Path(json_out))
    if append and csv_out is not None and Path(csv_out).is_file():
        try:
            header = Path(csv_out).read_text(encoding="utf-8").split("\n", 1)[0].strip()
        except (OSError, UnicodeDecodeError):
            header = None
        if header and header != ",".join(CSV_COLUMNS):
            raise UserError(f"{csv_out} has other columns than this bench writes (an older edgeprune's, or not a "
                            "bench CSV); write to another --csv file, or replace it (--force without --append)")


def save_json(result: BenchResult, path: Path, append: bool) -> Path:
    old = read_bench_file(path).results if append and path.is_file() else []
    doc = BenchFile(device=result.device, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), results=old + result.rows)
    return write_json(path, doc.to_dict())


def csv_row(r: BenchRow) -> dict:
    lat = r.latency_ms
    dev = r.device or {}
    rtm = r.runtime or {}
    return {"model": r.model, "format": r.format, "threads": r.threads, "xnnpack": r.xnnpack, "bytes": r.bytes,
            "gzip_bytes": r.gzip_bytes, "accuracy": r.accuracy, "n_images": r.n_images,
            "p50_ms": lat.p50 if lat else None, "p90_ms": lat.p90 if lat else None, "p99_ms": lat.p99 if lat else None,
            "mean_ms": lat.mean if lat else None, "std_ms": lat.std if lat else None, "min_ms": lat.min if lat else None,
            "images_per_s": r.images_per_s, "init_ms": r.init_ms, "first_ms": r.first_ms, "peak_rss_mb": r.peak_rss_mb,
            "speedup": r.speedup, "runtime": rtm.get("name"), "runtime_version": rtm.get("version"),
            "machine": dev.get("machine"), "cpu": dev.get("cpu"), "pi_model": dev.get("pi_model"), "error": r.error,
            "macs": r.macs, "gflops": r.gflops, "cpu_id": cpu_id(dev)}


def save_csv(result: BenchResult, path: Path, append: bool) -> Path:
    rows = [csv_row(r) for r in result.rows]
    buf = io.StringIO()
    existing = path.read_text() if append and path.is_file() else ""
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    if not existing:
        w.writeheader()
    w.writerows(to_jsonable(rows))
    return atomic_write_text(path, existing + buf.getvalue())
