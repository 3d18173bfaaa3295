"""Moving run folders and bundles between a sweep's driver and its workers without a shared filesystem:
a folder travels as an uncompressed tar of its regular files, and lands through the same checks as any
untrusted archive (no links, no device files, nothing outside the destination)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from ...errors import UserError
from ...jsonio import write_json

MAX_BYTES = 512 * 1024 * 1024  # a cell's run and bundle are a few MB; a bigger blob is not one of ours


def pack_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and not p.is_symlink():
                tar.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
    return buf.getvalue()


def unpack_folder(blob: bytes, dest: Path) -> Path:
    """Extract ``blob`` into ``dest`` (created): regular files and folders only, all inside ``dest``."""
    if len(blob) > MAX_BYTES:
        raise UserError(f"a cell returned {len(blob):,} bytes, more than a run and bundle can hold; not landed")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            members = tar.getmembers()
            bad = [m.name for m in members if not (m.isfile() or m.isdir())]
            if bad:
                raise UserError(f"a cell returned {bad[0]!r}, which is not a plain file; not landed")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"a cell returned a damaged folder ({exc}); not landed") from None
    return dest


def _swap(value, mapping: list[tuple[str, str]]):
    if isinstance(value, str):
        for old, new in mapping:
            if value == old or value.startswith(old + "/"):
                return new + value[len(old):]
        return value
    if isinstance(value, list):
        return [_swap(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, mapping) for k, v in value.items()}
    return value


def relocate(value, mapping: list[tuple[str, str]]):
    """``value`` with every path string under a worker folder moved to the driver's (first match wins, so give
    the most specific prefix first)."""
    return _swap(value, mapping)


def relocate_json(folder: Path, mapping: list[tuple[str, str]]) -> None:
    """Rewrite the JSON files in ``folder`` so the paths they record are the driver's, not the worker's."""
    for p in sorted(Path(folder).rglob("*.json")):
        data = json.loads(p.read_text())
        moved = _swap(data, mapping)
        if moved != data:
            write_json(p, moved)
