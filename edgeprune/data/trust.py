"""The dataset folders the user has named: a split manifest may read images only from one of these.

A split.json is a file that anyone can edit or hand over, and a hash inside it can be recomputed by whoever edits
it, so a manifest cannot prove on its own which folder a run was trained on. edgeprune therefore remembers every
dataset folder the user names (``train --data``, ``data inspect``) in its config folder, and refuses a manifest whose
root is not one of them: a run folder from elsewhere cannot make export copy, say, ~/Pictures into a bundle.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import UserError
from ..jsonio import atomic_write_text
from ..userdirs import config_root


def _entry(root: Path) -> Path:
    return config_root() / "datasets" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:32]}.json"


def remember(root: str | Path) -> None:
    """Record ``root`` (resolved) as a dataset folder the user named."""
    root = Path(root).resolve()
    if is_known(root):
        return
    atomic_write_text(_entry(root), json.dumps({"root": str(root)}) + "\n")


def is_known(root: str | Path) -> bool:
    root = Path(root).resolve()
    f = _entry(root)
    try:
        return f.is_file() and json.loads(f.read_text(encoding="utf-8")).get("root") == str(root)
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def require_known(root: str | Path, where: str | Path) -> Path:
    """The resolved root, or a UserError when the user never named it as a dataset on this machine."""
    real = Path(root).resolve()
    if not real.is_dir():
        raise UserError(f"{where} reads images from {root}, which is not a folder here; "
                        "the dataset moved or the run was made on another machine")
    if not is_known(real):
        raise UserError(f"{where} reads images from {real}, a folder not named as a dataset on this machine; "
                        f"if it is yours, run `edgeprune data inspect {real}` once, then try again")
    return real
