"""`edgeprune latency measure PROBE --json TABLE`: time every probe file on this device (no TensorFlow).

Files are timed in child processes, several per child so the start-up is paid rarely; a file that crashes the
runtime is one error row and the next child goes on with the rest. The table is written after every child, so an
interrupted run resumes from the same --json.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..jsonio import check_writable, write_json
from ..paths import safe_join
from ..progress import Reporter, Silent
from ..readers import read_latency_table, read_probe
from ..records import LatencyRow, LatencyTable
from . import runtime as rt
from .bench import crash_message
from .sysinfo import device_info


@dataclass
class MeasureOptions:
    threads: int | None = None
    runs: int = 50  # timed runs per segment file; whole-model variants get 4x
    warmup: int = 10
    per_child: int = 25
    xnnpack: bool = True
    runtime: str | None = None
    timeout_s: float = 600.0  # per child
    force: bool = False

    def check(self) -> None:
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise UserError(f"--threads must be between 1 and 256, got {self.threads}")
        if not 1 <= self.runs <= 100000:
            raise UserError(f"--runs must be between 1 and 100000, got {self.runs}")
        if not 1 <= self.per_child <= 10000:
            raise UserError(f"--per-child must be between 1 and 10000, got {self.per_child}")
        if not self.timeout_s > 0:
            raise UserError("--timeout must be a positive number of seconds")


def _run_child(items: list[dict], opts: MeasureOptions) -> tuple[list[dict], str | None]:
    """Time ``items`` in one child; returns the rows it finished and, if it died, why."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-latency-") as tmp:
        spec_f, out_f = Path(tmp) / "spec.json", Path(tmp) / "out.jsonl"
        spec_f.write_text(json.dumps({"files": items, "threads": opts.threads, "xnnpack": opts.xnnpack,
                                      "warmup": opts.warmup, "runtime": opts.runtime}))
        prefix = shlex.split(os.environ.get("EDGEPRUNE_WORKER_PREFIX", ""))  # e.g. qemu under pi-check
        why = None
        try:
            proc = subprocess.run([*prefix, sys.executable, "-m", "edgeprune.device.latency_worker", str(spec_f),
                                   str(out_f)], capture_output=True, text=True, timeout=opts.timeout_s)
            if proc.returncode < 0:
                why = crash_message(proc.returncode)
            elif proc.returncode != 0:
                why = f"the timing process failed (exit {proc.returncode}) on this file"
        except subprocess.TimeoutExpired:
            why = f"timed out after {opts.timeout_s:.0f} s"
        rows = []
        if out_f.is_file():
            for line in out_f.read_text().splitlines():
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
    runtime = rt.load(opts.runtime)
    json_out = Path(json_out)
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
            done = {r.file: r for r in old.rows if r.error is None}
            reporter.log(f"resuming {json_out}: {len(done)} of {len(manifest.files)} files already timed")
        elif not opts.force:
            raise UserError(f"{json_out} exists and is not this probe's table at these threads; pass --force to replace it")
    table = LatencyTable(probe=manifest, threads=opts.threads, device=device_info(),
                         runtime={"name": runtime.name, "version": runtime.version}, xnnpack=opts.xnnpack,
                         rows=list(done.values()), edgeprune=__version__)
    todo = []
    for f in manifest.files:
        if f.file in done:
            continue
        path = safe_join(folder / "files", f.file)  # a manifest never sends us outside its folder
        if not path.is_file():
            table.rows.append(LatencyRow(file=f.file, error="file missing from the probe bundle"))
            continue
        todo.append({"file": f.file, "path": str(path), "runs": opts.runs * (4 if f.kind == "variant" else 1)})
    reporter.task(f"timing {len(todo)} probe files", len(todo))
    write_json(json_out, table.to_dict())
    while todo:
        batch = todo[: opts.per_child]
        rows, why = _run_child(batch, opts)
        finished = {r.get("file") for r in rows}
        for r in rows:
            if r.get("file") in {b["file"] for b in batch}:
                table.rows.append(LatencyRow(file=r["file"], p50_ms=r.get("p50_ms"), p90_ms=r.get("p90_ms"),
                                             runs=r.get("runs"), error=r.get("error")))
        rest = [b for b in batch if b["file"] not in finished]
        if rest and why:  # the first unfinished file is the one the child died on
            table.rows.append(LatencyRow(file=rest[0]["file"], error=why))
            rest = rest[1:]
        elif rest:
            for b in rest:
                table.rows.append(LatencyRow(file=b["file"], error="the timing process stopped before this file"))
            rest = []
        todo = rest + todo[len(batch):]
        reporter.advance(len(batch) - len(rest))
        write_json(json_out, table.to_dict())  # after every child: an interruption resumes from here
    reporter.done()
    return table
