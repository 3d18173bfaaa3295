"""Where edgeprune may read and what it may replace.

- A path read from a manifest or a bundle is resolved (symlinks too) and must stay inside its folder.
- An existing output folder is replaced only with --force, only when it is an edgeprune output of the expected
  kind (or empty), and never when it is, or holds, the current folder, the home folder or a file-system root.
  Replacing renames the old folder aside first, so a failure midway leaves one of the two whole.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import UserError


def is_inside(root: Path, path: Path) -> bool:
    """True when the resolved ``path`` is ``root`` or below it (``root`` must already be resolved)."""
    return path == root or root in path.parents


def safe_join(root: str | Path, rel: str) -> Path:
    """Resolve a path read from a manifest or bundle, refusing anything that leaves root (also through symlinks)."""
    root = Path(root).resolve()
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or "\x00" in rel:
        raise UserError(f"refusing path {rel!r}: it must be relative to {root}")
    full = (root / rel).resolve()
    if not is_inside(root, full) or full == root:
        raise UserError(f"refusing path {rel!r}: it points outside {root}")
    return full


def _protected(real: Path) -> str | None:
    cwd = Path.cwd().resolve()
    if is_inside(real, cwd):
        return "it is or holds the current folder"
    if real == Path(real.anchor):
        return "it is a file-system root"
    try:
        if is_inside(real, Path.home().resolve()):
            return "it is or holds the home folder"
    except RuntimeError:  # no home folder known
        pass
    return None


def check_not_protected(path: str | Path, what: str) -> None:
    """An output folder edgeprune writes files into (a report's) is never the current folder or one that holds it,
    the home folder or a file-system root: the rule every replaced output folder follows (``check_replaceable``)."""
    why = _protected(Path(path).resolve())
    if why:
        raise UserError(f"refusing to write the {what} into {path}: {why}. Choose another --out")


def check_real_folder(root: str | Path, name: str, what: str) -> Path:
    """``root/name``, a real folder inside ``root`` or nothing yet: a link (which could lead anywhere) or anything
    else that is not a folder is refused."""
    sub = Path(root) / name
    if sub.is_symlink() or (sub.exists() and not sub.is_dir()) or not is_inside(Path(root).resolve(), sub.resolve()):
        raise UserError(f"{sub} is not a folder inside {root} (a link is refused); {what}")
    return sub


def _marker_kind(folder: Path, marker: str) -> str | None:
    f = folder / marker
    if not f.is_file() or f.is_symlink():
        return None
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc.get("kind") if isinstance(doc, dict) and isinstance(doc.get("kind"), str) else None


def check_replaceable(path: str | Path, *, force: bool, marker: str, kinds: tuple[str, ...], what: str) -> None:
    """Refuse to replace ``path`` unless it is absent, or --force is given and it is an edgeprune ``what``.

    ``marker`` is the JSON file that identifies such a folder and ``kinds`` the accepted values of its "kind".
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    a = "an" if what[0] in "aeiou" else "a"
    if not force:
        raise UserError(f"{path} already exists; pass --force to replace it or choose another --out")
    if path.is_symlink() or not path.is_dir():
        raise UserError(f"{path} is not {a} {what} folder; edgeprune replaces only its own {what}s. Choose another --out")
    real = path.resolve()
    why = _protected(real)
    if why:
        raise UserError(f"refusing to replace {path}: {why}. Choose another --out")
    if not any(real.iterdir()):
        return  # an empty folder: nothing to lose
    if _marker_kind(real, marker) not in kinds:
        raise UserError(f"{path} is not {a} {what} made by edgeprune (no {marker} of that kind); "
                        "it is left alone. Choose another --out")


def replace_dir(staging: Path, final: Path, *, force: bool, marker: str, kinds: tuple[str, ...], what: str) -> Path:
    """Move a complete ``staging`` folder to ``final``; an existing ``final`` must pass ``check_replaceable``."""
    check_replaceable(final, force=force, marker=marker, kinds=kinds, what=what)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)
    return final
