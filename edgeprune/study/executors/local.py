"""The local executor: every cell in this process, one after the other."""
from __future__ import annotations

import socket
import time

from ...errors import UserError


def check(o) -> None:
    ray_only = [name for name, v, default in (("--address", o.address, None), ("--bench-on", o.bench_on, None),
                                              ("--gpus-per-cell", o.gpus_per_cell, 0.0)) if v != default]
    if ray_only:
        raise UserError(f"{', '.join(ray_only)} applies to --executor ray")


def run(job, finished) -> None:
    from ..cells import failed_cell, run_cell

    for c in job.cells:
        job.reporter.log(f"cell {c.key}")
        t0 = time.perf_counter()
        try:
            rec = run_cell(c, job.run, job.workspace, job.folder, job.options, job.reporter)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failed cell is recorded and the sweep goes on
            rec = failed_cell(c, job.run, job.options, exc)
        rec.seconds = round(time.perf_counter() - t0, 1)
        rec.executor, rec.node = "local", socket.gethostname()
        finished(rec)
