"""The workspace: one root for every output (``-w``, default ``runs``, or ``$EDGEPRUNE_WORKSPACE``).

- runs: ``<workspace>/<name>/`` holds model.keras, run.json and split.json;
- export bundles, sweeps and reports: ``<workspace>/exports/``, ``sweeps/`` and ``reports/`` by default.

``--out`` takes a name (placed in its default folder) or a path (a '/' in it, or a leading '.' or '~'), which is
honoured as given. A run is built in a hidden staging folder beside it (``.<name>.partial/``, which also keeps the
checkpoints) and renamed into place only when it is complete, so an interrupted command never leaves a
half-written run.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .paths import check_replaceable, replace_dir
from .readers import read_run
from .records import RunRecord

DEFAULT_WORKSPACE = Path(os.environ.get("EDGEPRUNE_WORKSPACE", "runs"))
MODEL_FILE = "model.keras"
RUN_FILE = "run.json"
SPLIT_FILE = "split.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
OUTPUT_DIRS = {"export bundle": "exports", "sweep": "sweeps", "report": "reports", "probe": "probes"}


@dataclass
class Run:
    """A finished run folder."""

    path: Path

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def split(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def info(self) -> RunRecord:
        """run.json as its typed record (a file of the wrong shape is a one-line error)."""
        return read_run(self.path / RUN_FILE)

    @property
    def name(self) -> str:
        return self.path.name


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise UserError(f"run name {name!r} is not allowed: use letters, digits, '.', '_' and '-'")
    return name


def is_path(out: str) -> bool:
    """--out names a path (honoured as given) rather than a name (placed in its default folder)."""
    return "/" in out or os.sep in out or out.startswith((".", "~"))


def _absolute(out: str) -> Path:
    p = Path(os.path.abspath(Path(out).expanduser()))  # '..' folded, so the last part is a real name
    if p == Path(p.anchor):
        raise UserError(f"--out {out} is a file-system root; give a folder")
    return p


def check_workspace(workspace: Path) -> Path:
    """The workspace is a folder, or does not exist yet (it is made); a file there is refused before any work."""
    workspace = Path(workspace)
    if workspace.exists() and not workspace.is_dir():
        raise UserError(f"the workspace {workspace} is a file, not a folder; give a folder with -w")
    return workspace


def output_folder(workspace: Path, what: str, out: str | None, default_name: str) -> Path:
    """Where an export bundle, a sweep or a report goes: --out as a path, else a name in its default folder."""
    if out is not None and not out.strip():
        raise UserError(f"--out is empty; give a name or a folder for the {what}")
    if out is not None and is_path(out):
        return _absolute(out)
    check_workspace(workspace)
    return Path(os.path.abspath(Path(workspace) / OUTPUT_DIRS[what] / check_name(out if out is not None else default_name)))


def run_folder(workspace: Path, out: str | None, default_name: str) -> Path:
    """Where a new run goes: a name in the workspace, or a path as given (its last part is the run's name)."""
    if out is not None and out.strip() and is_path(out):
        final = _absolute(out)
        check_name(final.name)
        return final
    name = check_name(out if out is not None else default_name)
    if name in OUTPUT_DIRS.values():
        raise UserError(f"run name {name!r} is the workspace's folder for {name}; choose another --out")
    return check_workspace(workspace) / name


def new_name(prefix: str, workspace: Path) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, k = f"{prefix}-{stamp}", 1
    while (workspace / name).exists() or (workspace / f".{name}.partial").exists():
        k += 1
        name = f"{prefix}-{stamp}-{k}"
    return name


def staging_dir(workspace: Path, name: str) -> Path:
    return workspace / f".{name}.partial"


RUN_KINDS = ("train", "prune", "import")


def check_replaceable_run(final: Path, force: bool) -> None:
    """An existing folder at ``final`` is replaced only with --force and only when it is an edgeprune run."""
    check_replaceable(final, force=force, marker=RUN_FILE, kinds=RUN_KINDS, what="run")


def finalize(staging: Path, final: Path, force: bool) -> Path:
    """Move a complete staging folder into place; replace an existing run only with force."""
    replace_dir(staging, final, force=force, marker=RUN_FILE, kinds=RUN_KINDS, what="run")
    shutil.rmtree(final / "ckpt", ignore_errors=True)
    return final


def list_runs(workspace: Path) -> list[Run]:
    if not workspace.is_dir():
        return []
    runs = [Run(p) for p in workspace.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / RUN_FILE).is_file() and (p / MODEL_FILE).is_file()]
    return sorted(runs, key=lambda r: (r.path / RUN_FILE).stat().st_mtime)


def resolve_run(model: str | None, workspace: Path = DEFAULT_WORKSPACE) -> Run:
    """MODEL may be a run folder, a run name in the workspace, or None for the latest run."""
    if model is None:
        runs = list_runs(workspace)
        if not runs:
            raise UserError(f"no finished run in {workspace}/; train one first with `edgeprune train --data PATH`")
        return runs[-1]
    if not model.strip() or "\x00" in model:
        raise UserError("give a run folder or a run name, not an empty one")
    p = Path(model).expanduser()
    if p.is_file() and p.name == MODEL_FILE:
        p = p.parent
    if not p.exists() and (workspace / model).exists():
        p = workspace / model
    if not p.exists():
        raise UserError(f"run not found: {model} (give a run folder, a run name in {workspace}/, or nothing for the latest)")
    if not p.is_dir():
        raise UserError(f"{model} is a file; give a run folder made by edgeprune (holding model.keras, run.json, split.json)")
    p = p.resolve()  # '..' or '.' become the real folder, so names derived from the run are real names
    for f in (MODEL_FILE, RUN_FILE, SPLIT_FILE):
        if not (p / f).is_file():
            raise UserError(f"{p} is not a finished edgeprune run: {f} is missing")
    return Run(p)
