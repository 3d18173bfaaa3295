"""Atomic writes and guarded reads for the files people and scripts read (run.json, export.json, bench JSON)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_temp(path: Path, suffix: str = ".tmp") -> str:
    """A temporary file beside ``path`` with the permissions a plain open() would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """numpy scalars and arrays, Paths and tuples into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy scalar or array
        return obj.tolist()
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def write_json(path: str | Path, obj: Any, *, force: bool = True) -> Path:
    """Write JSON atomically. With force=False an existing file is an error, not overwritten."""
    path = Path(path)
    if not force and path.exists():
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    return atomic_write_text(path, text)


def read_json(path: str | Path, *, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UserError(f"{path} is not a valid {what} ({exc.__class__.__name__}); regenerate it") from None
    except OSError as exc:
        raise UserError(f"{path} cannot be read ({exc.strerror or exc.__class__.__name__})") from None


def check_writable(path: str | Path, force: bool) -> Path:
    """Refuse to replace an existing output unless --force was given; a folder or special file is never replaced."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; name a file to write")
    if path.exists() and not path.is_file():
        raise UserError(f"{path} is not a regular file; name a file to write")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it or choose another --out")
    return path
