"""The Ray executor: each sweep cell is a Ray task, on a cluster or on a local Ray instance.

No shared filesystem is needed. The driver decodes the dataset once and puts the arrays in Ray's object store;
a cell's task gets the parent run folder (a few MB) and the arrays, prunes and exports in a temporary folder, and
returns its run folder and bundle. The driver lands them in the workspace and the sweep folder with the same
atomic moves as a local sweep, so results, resume and failed rows are the local executor's.

Faults: a worker that dies is retried by Ray (``--max-retries``), and the row records how many times the cell
was started; a cell that raises is a failed row; Ctrl-C cancels the cells not yet landed. Timing stays on one
machine: the driver times each cell's files as they land, or, with ``--bench-on RESOURCE``, tasks that need that
custom resource do (a Raspberry Pi joined with ``ray start --address ... --resources '{"pi5": 1}'``).
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import asdict
from importlib.util import find_spec
from pathlib import Path

from ...errors import UserError
from .transfer import pack_folder, relocate, relocate_json, unpack_folder

FAULT_ENV = "EDGEPRUNE_FAULT_KILL_ONCE"  # "<cell key>@<marker file>": the worker dies once at that cell (tests)
MAX_RETRIES = 10


def check(o) -> None:
    if find_spec("ray") is None:
        raise UserError("--executor ray needs Ray: pip install 'edgeprune[ray]'")
    if not (math.isfinite(o.cpus_per_cell) and 0 < o.cpus_per_cell <= 1024):
        raise UserError(f"--cpus-per-cell must be a positive number, got {o.cpus_per_cell}")
    if not (math.isfinite(o.gpus_per_cell) and 0 <= o.gpus_per_cell <= 64):
        raise UserError(f"--gpus-per-cell must be 0 or more, got {o.gpus_per_cell}")
    if not 0 <= o.max_retries <= MAX_RETRIES:
        raise UserError(f"--max-retries must be between 0 and {MAX_RETRIES}, got {o.max_retries}")
    if o.bench_on is not None and (not o.bench or not o.bench_on.strip()):
        raise UserError("--bench-on RESOURCE names where --bench times the files; pass --bench with it")


def thread_env(cpus: float) -> dict[str, str]:
    """Training inside a cell uses as many threads as the cell has CPUs."""
    n = str(max(1, int(cpus)))
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n, "OMP_NUM_THREADS": n}


def probe(address: str, timeout_s: float = 5.0) -> None:
    """Ray retries an unreachable head for minutes; a TCP connect tells at once. ``auto`` is left to Ray."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        if address.strip() == "auto":
            return
        raise UserError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, or ray://10.0.0.5:10001)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                        "`ray start --head` or fix --address, then rerun: finished cells are kept") from None


def token_available() -> bool:
    """Whether this machine holds a Ray auth token (where Ray looks for one)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def auth_env(address: str | None) -> None:
    """`ray start` (Ray >= 2.60) turns token authentication on, while a driver sends no token unless
    RAY_AUTH_MODE=token, which Ray reads when it is imported. A cluster without authentication ignores a token, so
    when joining a cluster and this machine holds a token, send it."""
    if (address or os.environ.get("RAY_ADDRESS")) and "RAY_AUTH_MODE" not in os.environ and token_available():
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(ray, address: str | None) -> None:
    address = address or os.environ.get("RAY_ADDRESS") or None
    where = address or "a local Ray instance"
    if address:
        probe(address)
    kw = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    try:
        ray.init(address=address, **kw) if address else ray.init(**kw)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, TimeoutError: all mean "not reached"
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        hint = (" The head may require token authentication: give this machine its token (RAY_AUTH_TOKEN, or "
                "~/.ray/auth_token copied from the head)." if address and not token_available() else "")
        raise UserError(f"cannot reach the Ray cluster at {where} ({first}); start it with `ray start --head` or fix "
                        f"--address, then rerun: finished cells are kept.{hint}") from None


def _attempts_actor(ray):
    @ray.remote(num_cpus=0)
    class Attempts:
        """How many times each cell was started (a retried cell starts again)."""

        def __init__(self):
            self.n: dict[str, int] = {}

        def start(self, key: str) -> int:
            self.n[key] = self.n.get(key, 0) + 1
            return self.n[key]

        def get(self, key: str) -> int:
            return self.n.get(key, 0)

    return Attempts.remote()


def _maybe_die(key: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    cell, _, marker = spec.partition("@")
    if cell == key and marker and not os.path.exists(marker):
        Path(marker).write_text("killed once\n")
        os._exit(1)


def cell_task(cell, parent_blob: bytes, parent_name: str, manifest_hash: str, size: int, arrays, reuse,
              options: dict, attempts, table_blob: bytes | None = None) -> dict:
    """Runs on a worker: prune (or re-use) and export one cell in a temporary folder; return what the driver lands."""
    import ray

    from ...progress import Silent
    from ...workbench.run_files import preload
    from ...workspace import Run
    from ..cells import SweepOptions, failed_cell, run_cell

    attempt = ray.get(attempts.start.remote(cell.key))
    _maybe_die(cell.key)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="edgeprune-cell-"))
    try:
        ws, folder = tmp / "runs", tmp / "sweep"
        parent = Run(unpack_folder(parent_blob, ws / parent_name))
        if reuse:
            unpack_folder(reuse[1], ws / reuse[0])
        preload(manifest_hash, size, arrays)
        if table_blob is not None:  # the latency table travels with the cell; the driver maps its path back
            local = tmp / "latency" / Path(options["latency_table"]).name
            local.parent.mkdir()
            local.write_bytes(table_blob)
            options = {**options, "latency_table": str(local)}
        o = SweepOptions(**options)
        try:
            rec = run_cell(cell, parent, ws, folder, o, Silent())
        except Exception as exc:  # the driver records it as a failed row, as the local executor does
            rec = failed_cell(cell, parent, o, exc)
        out = {"record": rec.to_dict(), "attempt": attempt, "node": socket.gethostname(), "root": str(tmp),
               "run": None, "bundle": None}
        if not rec.error:
            if cell.finetune and not reuse:
                out["run"] = pack_folder(ws / rec.run)
            out["bundle"] = pack_folder(folder / "exports" / cell.key)
        out["seconds"] = time.perf_counter() - t0
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_task(bundle_blob: bytes, files: list[str], options: dict) -> dict:
    """Runs on a node holding the --bench-on resource: time the files of one bundle there."""
    from ...progress import Silent
    from ...records import SweepCell
    from ..cells import SweepOptions, bench_cell

    tmp = Path(tempfile.mkdtemp(prefix="edgeprune-bench-"))
    try:
        unpack_folder(bundle_blob, tmp)
        rec = SweepCell(cell="bench", method="none", files=[{"file": f, "kept": True} for f in files])
        rows = bench_cell(rec, tmp, SweepOptions(**options), Silent())
        return {"root": str(tmp), "rows": [r.to_dict() for r in rows], "node": socket.gethostname()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def land(out, c, job, connect_s: float, t0: float):
    """What a worker returned for cell ``c``, landed in the workspace and the sweep folder. The worker is not trusted
    further than a file is: its record is read through the typed record, the run's name passes the name check every
    run name does, every folder through the bounded tar reader and its JSON through the guarded readers; any failure
    is this cell's failed row (the sweep goes on), and nothing half-landed is left."""
    from ...paths import replace_dir
    from ...records import SweepCell
    from ...workbench.export.bundle import BUNDLE_KINDS, EXPORT_FILE
    from ...workspace import check_name, finalize, staging_dir
    from ..cells import failed_cell

    o = job.options
    try:
        if not isinstance(out, dict):
            raise UserError(f"the worker returned {type(out).__name__}, not a cell's result")
        rec = SweepCell.from_dict(out.get("record"), f"cell {c.key} returned by {str(out.get('node'))[:60]}")
        if rec.cell != c.key:
            raise UserError(f"the worker returned the record of cell {rec.cell!r} for cell {c.key!r}")
        node, attempt, seconds = out.get("node"), out.get("attempt"), out.get("seconds")
        if not (isinstance(node, str) and isinstance(attempt, int) and isinstance(seconds, (int, float))
                and math.isfinite(seconds)):
            raise UserError("the worker's result lacks its node, attempt or seconds")
    except (UserError, RecursionError) as exc:
        rec = failed_cell(c, job.run, o, exc if isinstance(exc, UserError) else UserError("record nested too deeply"))
        rec.executor = "ray"
        return rec
    rec.executor, rec.node, rec.attempts = "ray", node[:200], attempt
    rec.seconds = round(seconds, 1)
    rec.timing = {"connect_seconds": connect_s, "worker_seconds": round(seconds, 2),
                  "submitted_to_returned_seconds": round(time.perf_counter() - t0, 2),
                  "returned_bytes": len(out.get("run") or b"") + len(out.get("bundle") or b"")}
    if rec.error:
        return rec
    stagings = []
    try:
        t1 = time.perf_counter()
        root = out.get("root")
        if not isinstance(root, str) or not root.startswith("/"):
            raise UserError("the worker's result names no folder it worked in")
        if rec.run is not None:
            check_name(rec.run)
        mapping = [(f"{root}/runs/{job.run.name}", str(job.run.path.resolve())),
                   *([(f"{root}/latency/{Path(o.latency_table).name}", o.latency_table)] if o.latency_table else []),
                   (f"{root}/runs", str(job.workspace.resolve())),
                   (f"{root}/sweep", str(job.folder.resolve()))]
        if out.get("run"):
            if rec.run is None:
                raise UserError("the worker returned a run folder without its name")
            staging = staging_dir(job.workspace, rec.run)
            stagings.append(staging)
            shutil.rmtree(staging, ignore_errors=True)
            relocate_json(unpack_folder(out["run"], staging), mapping)
            finalize(staging, job.workspace / rec.run, force=True)
        bundle = job.folder / "exports" / c.key
        staging = bundle.with_name(f".{c.key}.partial-{os.getpid()}")
        stagings.append(staging)
        shutil.rmtree(staging, ignore_errors=True)
        relocate_json(unpack_folder(out.get("bundle"), staging), mapping)
        replace_dir(staging, bundle, force=True, marker=EXPORT_FILE, kinds=BUNDLE_KINDS, what="export bundle")
        rec.bundles = relocate(rec.bundles, mapping)
        rec.timing["land_seconds"] = round(time.perf_counter() - t1, 3)
    except (UserError, OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
        rec.error = f"landing: {exc}" if isinstance(exc, UserError) else f"landing: {exc.__class__.__name__}: {exc}"
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)
    return rec


def run(job, finished) -> None:
    check(job.options)
    auth_env(job.options.address)
    import ray

    from ...records import BenchRow
    from ...workbench.run_files import run_data
    from ..cells import failed_cell, prune_options, reusable_run, run_name

    o, reporter = job.options, job.reporter
    if not job.cells:
        return
    t_connect = time.perf_counter()
    connect(ray, o.address)
    connect_s = round(time.perf_counter() - t_connect, 2)
    pending: dict = {}
    # Ctrl-C: Ray defers SIGINT around some of its own work (deserialising results), so a KeyboardInterrupt raised
    # by Python's handler can be lost there; a flag set by our handler and read on every turn of the loop cannot
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        manifest, arrays = run_data(job.run, job.workspace, reporter)  # decoded once, here, for every cell
        reporter.log(f"ray: {ray.cluster_resources().get('CPU', 0):g} CPUs in the cluster; {len(job.cells)} cells, "
                     f"{o.cpus_per_cell:g} CPU each")
        arrays_ref = ray.put(arrays)
        parent_ref = ray.put(pack_folder(job.run.path))
        attempts = _attempts_actor(ray)
        task = ray.remote(cell_task).options(num_cpus=o.cpus_per_cell, num_gpus=o.gpus_per_cell,
                                             max_retries=o.max_retries, retry_exceptions=False,
                                             runtime_env={"env_vars": thread_env(o.cpus_per_cell)})
        opts = asdict(o)
        table_blob = Path(o.latency_table).read_bytes() if o.latency_table else None
        for c in job.cells:
            reuse = None
            if c.finetune:
                old = reusable_run(job.run, job.workspace, run_name(job.run, c), prune_options(c, o, run_name(job.run, c)))
                reuse = (old.name, pack_folder(old.path)) if old else None
            ref = task.remote(c, parent_ref, job.run.name, manifest.hash, job.run.info.image_size, arrays_ref, reuse,
                              opts, attempts, table_blob)
            pending[ref] = (c, time.perf_counter())
        bench = ray.remote(bench_task).options(num_cpus=0, resources={o.bench_on: 1}, max_retries=o.max_retries) \
            if o.bench_on else None
        while pending:
            if interrupted:
                raise KeyboardInterrupt
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                c, t0 = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died more often than --max-retries allows
                    try:
                        n = ray.get(attempts.get.remote(c.key), timeout=30)
                    except ray.exceptions.RayError:  # the counter died too (Ray lost this driver): count unknown
                        n = None
                    rec = failed_cell(c, job.run, o, exc, attempts=n)
                    rec.executor = "ray"
                    finished(rec)
                    continue
                rec = land(out, c, job, connect_s, t0)
                if not rec.error and bench is not None:
                    bundle = job.folder / "exports" / c.key
                    try:
                        t1 = time.perf_counter()
                        b = ray.get(bench.remote(out["bundle"], [f["file"] for f in rec.files if f.get("kept")], opts))
                        rows = relocate(b["rows"], [(b["root"], str(bundle.resolve()))])
                        rec.bench = [BenchRow.from_dict(r, f"bench row of {c.key}") for r in rows]
                        rec.timing["land_seconds"] = round(rec.timing.get("land_seconds", 0) + time.perf_counter() - t1, 3)
                    except (UserError, ray.exceptions.RayError, KeyError, TypeError, ValueError, RecursionError) as exc:
                        rec.error = f"landing: {exc}"
                finished(rec)
        if interrupted:  # Ctrl-C while the last cell landed: the sweep is whole, but the user asked to stop
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        ray.shutdown()
