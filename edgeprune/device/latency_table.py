"""`edgeprune latency measure PROBE --json TABLE`: time every probe file on this device (no TensorFlow).

Files are timed in child processes, several per child so the start-up is paid rarely; a file that crashes the
runtime is one error row and the next child goes on with the rest. Every file is timed in several passes, each pass
in its own shuffled order, and its time is the fastest pass's p50 (``LatencyRow.time_ms``): other work on a machine
only ever slows a pass. The table is written after every child, so an interrupted run resumes from the same --json,
and a larger --passes adds passes to a finished table.
"""
from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..options import opt
from ..jsonio import check_writable, write_json
from ..paths import check_real_folder, safe_join
from ..progress import Reporter, Silent
from ..readers import read_latency_table, read_probe
from ..records import LatencyRow, LatencyTable
from . import runtime as rt
from .child import run_worker
from .defaults import LATENCY_MIN_TIME_S, LATENCY_PASSES, LATENCY_RUNS, LATENCY_WARMUP_S
from .sysinfo import device_info, device_mismatch


@dataclass
class CheckOptions:
    """`edgeprune latency check TABLE` takes no options: the table holds what it checks."""


@dataclass
class MeasureOptions:
    threads: int | None = opt(None, kind=int, help="Interpreter threads (as the model will run).")
    runs: int = opt(LATENCY_RUNS, help="Timed runs per segment file per pass, at least (whole-model files get 4x).")
    min_time_s: float = opt(LATENCY_MIN_TIME_S, flag="--min-time", help="Seconds of timed runs per file per pass, "
                            "at least.")
    passes: int = opt(LATENCY_PASSES, help="Passes over every file, each in its own shuffled order; a file's time is "
                      "its fastest pass's p50. More passes on a shared machine; a larger number extends a table.")
    warmup: int = opt(10, help="Untimed runs before timing (then --warmup-s more).")
    warmup_s: float = opt(LATENCY_WARMUP_S, flag="--warmup-s", help="Seconds of untimed runs after --warmup, past a "
                          "freshly loaded model's slow start.")
    per_child: int = opt(25, help="Files timed per child process.")
    xnnpack: bool = opt(True, flag="--xnnpack/--no-xnnpack", help="XNNPACK, or the reference kernels.")
    runtime: str | None = opt(None, kind=str, help="ai-edge-litert, tflite-runtime or tensorflow.")
    timeout_s: float = opt(600.0, flag="--timeout", help="Seconds before a child process is stopped.")
    force: bool = opt(False, help="Replace a table of another probe or thread count.")

    def check(self) -> None:
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise UserError(f"--threads must be between 1 and 256, got {self.threads}")
        if not 1 <= self.runs <= 100000:
            raise UserError(f"--runs must be between 1 and 100000, got {self.runs}")
        if not 1 <= self.passes <= 100:
            raise UserError(f"--passes must be between 1 and 100, got {self.passes}")
        if not 0 <= self.min_time_s <= 60:
            raise UserError(f"--min-time must be between 0 and 60 seconds, got {self.min_time_s}")
        if not 1 <= self.per_child <= 10000:
            raise UserError(f"--per-child must be between 1 and 10000, got {self.per_child}")
        if not 0 <= self.warmup <= 100000:
            raise UserError(f"--warmup must be between 0 and 100000 runs, got {self.warmup}")
        if not 0 <= self.warmup_s <= 60:
            raise UserError(f"--warmup-s must be between 0 and 60 seconds, got {self.warmup_s}")
        if not self.timeout_s > 0:
            raise UserError("--timeout must be a positive number of seconds")


def _run_child(items: list[dict], opts: MeasureOptions) -> tuple[list[dict], str | None]:
    """Time ``items`` in one child; returns the rows it finished and, if it died, why."""
    spec = {"files": items, "threads": opts.threads, "xnnpack": opts.xnnpack, "warmup": opts.warmup,
            "runtime": opts.runtime, "min_time_s": opts.min_time_s, "warmup_s": opts.warmup_s}
    res = run_worker("edgeprune.device.latency_worker", spec, opts.timeout_s)
    why = None if res.returncode == 0 else res.failure("timing")
    rows = []
    for line in (res.output or "").splitlines():  # one line per file timed, so a crash keeps the rows before it
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return rows, why


def measure_probe(probe_folder: str | Path, json_out: str | Path, opts: MeasureOptions,
                  reporter: Reporter | None = None) -> LatencyTable:
    reporter = reporter or Silent()
    opts.check()
    folder = Path(probe_folder)
    manifest = read_probe(folder)
    files = check_real_folder(folder, "files", "the probe's files are read only from its own files/ folder")
    runtime = rt.load(opts.runtime)
    json_out = Path(json_out)
    here = device_info()
    done: dict[str, LatencyRow] = {}
    if json_out.exists():
        check_writable(json_out, force=True)  # a folder or special file is never replaced
        try:
            old = read_latency_table(json_out)
        except UserError:
            old = None
        same = (old is not None and old.probe.to_dict() == manifest.to_dict() and old.threads == opts.threads
                and old.runtime.get("name") == runtime.name and old.xnnpack == opts.xnnpack)
        if same and not opts.force:
            diff = device_mismatch(old.device, here, ("the table", "this device"))
            if diff:
                raise UserError(f"{json_out} was measured on another device ({diff}); pass --force to measure it "
                                "again here, or give another --json")
            done = {r.file: r for r in old.rows if r.error is None}
            full = sum(1 for r in done.values() if len(passes_of(r)) >= opts.passes)
            reporter.log(f"resuming {json_out}: {full} of {len(manifest.files)} files timed in all {opts.passes} passes")
        elif not opts.force:
            raise UserError(f"{json_out} exists and is not this probe's table at these threads; pass --force to replace it")
    table = LatencyTable(probe=manifest, threads=opts.threads, device=here,
                         runtime={"name": runtime.name, "version": runtime.version}, xnnpack=opts.xnnpack,
                         rows=list(done.values()), edgeprune=__version__)
    rows = {r.file: r for r in table.rows}
    todo: list[list[dict]] = [[] for _ in range(opts.passes)]  # per pass, the files it still has to time
    for f in manifest.files:
        have = len(passes_of(done[f.file])) if f.file in done else 0
        if have >= opts.passes:
            continue
        path = safe_join(files, f.file)  # a manifest never sends us outside its folder
        if not path.is_file():
            rows[f.file] = LatencyRow(file=f.file, error="file missing from the probe bundle")
            continue
        for k in range(have, opts.passes):
            todo[k].append({"file": f.file, "path": str(path), "runs": opts.runs * (4 if f.kind == "variant" else 1)})
    rng = random.Random()  # each pass, and each run, in its own order: a slow spell lands on other files each time
    for items in todo:
        rng.shuffle(items)
    total = sum(len(t) for t in todo)
    reporter.task(f"timing {len({i['file'] for t in todo for i in t})} probe files in {opts.passes} passes", total)
    _save(json_out, table, rows)
    for items in todo:
        while items:
            batch = items[: opts.per_child]
            got, why = _run_child(batch, opts)
            asked = {b["file"] for b in batch}
            finished = set()
            for r in got:
                if r.get("file") in asked and r["file"] not in finished:
                    finished.add(r["file"])
                    rows[r["file"]] = _add_pass(rows.get(r["file"]), r)
            rest = [b for b in batch if b["file"] not in finished]
            if rest and why:  # the first unfinished file is the one the child died on
                rows[rest[0]["file"]] = LatencyRow(file=rest[0]["file"], error=why)
                rest = rest[1:]
            elif rest:
                for b in rest:
                    rows[b["file"]] = LatencyRow(file=b["file"], error="the timing process stopped before this file")
                rest = []
            failed = {f for f, r in rows.items() if r.error}
            items[:] = [b for b in rest + items[len(batch):] if b["file"] not in failed]
            reporter.advance(len(batch) - len(rest))
            _save(json_out, table, rows)  # after every child: an interruption resumes from here
    reporter.done()
    table.rows = _ordered(manifest, rows)
    return table


def passes_of(row: LatencyRow) -> list[float]:
    """The p50 of each pass so far (a table from before passes holds one, its p50)."""
    if row.error or row.p50_ms is None:
        return []
    return list(row.p50_passes) if row.p50_passes else [row.p50_ms]


def _add_pass(row: LatencyRow | None, result: dict) -> LatencyRow:
    """The row with one more pass: its p50 the fastest pass's (``LatencyRow.time_ms``); an error ends the file."""
    if result.get("error") or result.get("p50_ms") is None:
        return LatencyRow(file=result["file"], error=result.get("error") or "no time was recorded")
    earlier = row if row is not None and not row.error else None
    p50s = (passes_of(earlier) if earlier else []) + [result["p50_ms"]]
    p90s = [v for v in ((earlier.p90_passes or []) if earlier else []) + [result.get("p90_ms")] if v is not None]
    row = LatencyRow(file=result["file"], p50_passes=p50s, p90_passes=p90s,
                     p90_ms=statistics.median(p90s) if p90s else None,
                     runs=((earlier.runs or 0) if earlier else 0) + int(result.get("runs") or 0))
    row.p50_ms = row.time_ms
    return row


def _ordered(manifest, rows: dict[str, LatencyRow]) -> list[LatencyRow]:
    order = {f.file: i for i, f in enumerate(manifest.files)}
    return sorted(rows.values(), key=lambda r: order.get(r.file, len(order)))


def _save(json_out: Path, table: LatencyTable, rows: dict[str, LatencyRow]) -> None:
    table.rows = _ordered(table.probe, rows)
    write_json(json_out, table.to_dict())
