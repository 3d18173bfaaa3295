"""Where a sweep's cells run. An executor is one module with ``check(options)`` and ``run(job, finished)``;
``finished(row)`` is called once per cell, in the driver's process, as each cell completes (the sweep then times
it, appends it to results.jsonl and moves its progress bar). Add one by writing the module and a line below."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...workspace import Run

EXECUTORS = {
    "local": ("edgeprune.study.executors.local", "cells one after the other in this process (the default)"),
    "ray": ("edgeprune.study.executors.ray_cluster", "cells as Ray tasks on a cluster, or a local Ray instance; "
            "pip install 'edgeprune[ray]'"),
}


def names() -> list[str]:
    return list(EXECUTORS)


def get(name: str):
    if name not in EXECUTORS:
        raise UserError(f"unknown --executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return import_module(EXECUTORS[name][0])


@dataclass
class SweepJob:
    """What an executor is handed: the cells still to run and where everything goes."""

    run: Run
    workspace: Path
    folder: Path
    options: Any  # cells.SweepOptions
    cells: list  # [cells.Cell]
    reporter: Any  # log lines only (the sweep owns the progress bar)
