"""`edgeprune bench`: measure TFLite files on this device, each in its own child process, and collect one table."""
from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..jsonio import atomic_write_text, read_json, to_jsonable, write_json
from ..progress import Reporter, Silent
from . import runtime as rt
from .measure import Spec, gzip_size
from .sysinfo import cpu_temperature_c, device_info, throttled

CSV_COLUMNS = ["model", "format", "threads", "xnnpack", "bytes", "gzip_bytes", "accuracy", "n_images",
               "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "images_per_s", "init_ms", "first_ms",
               "peak_rss_mb", "speedup", "runtime", "runtime_version", "machine", "cpu", "pi_model", "error"]


@dataclass
class BenchOptions:
    threads: list[int | None] = field(default_factory=lambda: [None])  # None: all cores
    xnnpack: bool = True
    warmup: int = 10
    runs: int = 100
    data: str | None = None
    runtime: str | None = None
    max_images: int | None = None
    timeout_s: float = 900.0
    fallback: bool = True  # retry with the next runtime when one crashes
    predictions: bool = False  # keep every image's top-1 (to compare devices image by image)


def run_child(spec: Spec, timeout_s: float) -> dict:
    """Run the worker for one spec; a crash or a hang becomes {'ok': False, 'error': ...}."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-bench-") as tmp:
        spec_f, out_f = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_f.write_text(json.dumps(asdict(spec)))
        env = dict(os.environ)
        # EDGEPRUNE_WORKER_PREFIX runs the worker through a launcher, e.g. "qemu-aarch64-static -L SYSROOT" when the
        # harness itself runs under user-mode emulation without binfmt_misc (devices/pi_check.py does this)
        prefix = shlex.split(os.environ.get("EDGEPRUNE_WORKER_PREFIX", ""))
        try:
            proc = subprocess.run([*prefix, sys.executable, "-m", "edgeprune.device.worker", str(spec_f), str(out_f)],
                                  capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {timeout_s:.0f} s"}
        if proc.returncode < 0:
            try:
                sig = signal.Signals(-proc.returncode).name
            except ValueError:
                sig = str(-proc.returncode)
            return {"ok": False, "error": f"the runtime crashed ({sig}) on this file", "crashed": True}
        if not out_f.is_file():
            tail = " ".join(proc.stderr.strip().splitlines()[-1:])[:300]
            return {"ok": False, "error": f"the measuring process failed (exit {proc.returncode}): {tail}", "crashed": True}
        return json.loads(out_f.read_text())


def _format_of(model: Path) -> tuple[str, bool | None]:
    """The format and sparse flag recorded in the bundle's export.json, else guessed from the file name."""
    f = model.parent / "export.json"
    if f.is_file():
        try:
            for row in json.loads(f.read_text()).get("files", []):
                if row.get("file") == model.name:
                    return str(row.get("format")), row.get("sparse")
        except (ValueError, AttributeError):
            pass
    stem = model.stem.lower()
    for fmt in ("int8", "dynamic", "fp16", "fp32"):
        if fmt in stem:
            return fmt, "sparse" in stem
    return model.stem, None


def bench_one(model: Path, threads: int | None, opts: BenchOptions, device: dict) -> dict:
    fmt, sparse = _format_of(model)
    row: dict = {"model": str(model), "name": model.parent.name + "/" + model.name, "format": fmt, "sparse": sparse,
                 "bytes": None, "gzip_bytes": None, "threads": threads or os.cpu_count(), "xnnpack": opts.xnnpack,
                 "device": device, "error": None}
    if model.is_file():
        data = model.read_bytes()
        row["bytes"], row["gzip_bytes"] = len(data), gzip_size(data)
    row["temperature_c_before"] = cpu_temperature_c()
    spec = Spec(model=str(model), threads=threads or os.cpu_count(), xnnpack=opts.xnnpack, runtime=opts.runtime,
                data=opts.data, warmup=opts.warmup, runs=opts.runs, max_images=opts.max_images,
                predictions=opts.predictions)
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
    rows: list[dict]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("error"))


def bench(models: list[str | Path], opts: BenchOptions, reporter: Reporter | None = None) -> BenchResult:
    if not models:
        raise UserError("name at least one .tflite file")
    if opts.runs < 1 or opts.warmup < 0:
        raise UserError("--runs must be at least 1 and --warmup at least 0")
    if opts.data and not Path(opts.data).exists():
        raise UserError(f"--data not found: {opts.data}")
    reporter = reporter or Silent()
    device = device_info()
    rows = []
    reporter.task("benchmarking", len(models) * len(opts.threads))
    for m in models:
        for t in opts.threads:
            rows.append(bench_one(Path(m), t, opts, device))
            reporter.advance(1)
    reporter.done()
    add_speedups(rows)
    return BenchResult(device, rows)


def add_speedups(rows: list[dict]) -> None:
    """Speed-up of each row against the first measured model at the same thread count (p50 ratio)."""
    base: dict = {}
    for r in rows:
        p50 = (r.get("latency_ms") or {}).get("p50")
        if p50 and r["threads"] not in base:
            base[r["threads"]] = p50
        r["speedup"] = base[r["threads"]] / p50 if p50 and r["threads"] in base else None


def save_json(result: BenchResult, path: Path, append: bool) -> Path:
    doc = {"kind": "edgeprune-bench", "version": 1, "device": result.device,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": result.rows}
    if append and path.is_file():
        old = read_json(path, what="bench results file")
        if not isinstance(old, dict) or not isinstance(old.get("results"), list):
            raise UserError(f"{path} is not an edgeprune bench file; cannot --append to it")
        doc["results"] = old["results"] + result.rows
    return write_json(path, doc)


def csv_row(r: dict) -> dict:
    lat = r.get("latency_ms") or {}
    dev = r.get("device") or {}
    rtm = r.get("runtime") or {}
    return {"model": r.get("model"), "format": r.get("format"), "threads": r.get("threads"), "xnnpack": r.get("xnnpack"),
            "bytes": r.get("bytes"), "gzip_bytes": r.get("gzip_bytes"), "accuracy": r.get("accuracy"),
            "n_images": r.get("n_images"), "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
            "mean_ms": lat.get("mean"), "std_ms": lat.get("std"), "min_ms": lat.get("min"),
            "images_per_s": r.get("images_per_s"), "init_ms": r.get("init_ms"), "first_ms": r.get("first_ms"),
            "peak_rss_mb": r.get("peak_rss_mb"), "speedup": r.get("speedup"), "runtime": rtm.get("name"),
            "runtime_version": rtm.get("version"), "machine": dev.get("machine"), "cpu": dev.get("cpu"),
            "pi_model": dev.get("pi_model"), "error": r.get("error")}


def save_csv(result: BenchResult, path: Path, append: bool) -> Path:
    rows = [csv_row(r) for r in result.rows]
    buf = io.StringIO()
    existing = path.read_text() if append and path.is_file() else ""
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    if not existing:
        w.writeheader()
    w.writerows(to_jsonable(rows))
    return atomic_write_text(path, existing + buf.getvalue())
