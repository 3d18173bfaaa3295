"""Moving run folders and bundles between a sweep's driver and its workers without a shared filesystem:
a folder travels as an uncompressed tar of its regular files, and lands through the same checks as any
untrusted archive (no links, no device files, nothing outside the destination)."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

from ...errors import UserError
from ...jsonio import read_json, write_json

MAX_BYTES = 512 * 1024 * 1024  # a cell's run and bundle are a few MB; a bigger blob is not one of ours
MAX_MEMBERS = 10_000  # files and folders of one returned folder
MAX_JSON_BYTES = 32 * 1024 * 1024  # one JSON file of a returned folder
# the JSON files a worker returns that have a typed record: read through it, so a file of the wrong shape is refused
_TYPED = {"run.json": "RunRecord", "export.json": "ExportRecord", "model.json": "ModelCard"}


def pack_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and not p.is_symlink():
                tar.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
    return buf.getvalue()


def check_members(tar: tarfile.TarFile, max_members: int = MAX_MEMBERS, max_bytes: int = MAX_BYTES) -> list:
    """The members of a returned tar, read one at a time and bounded before anything is written: plain files and
    folders only, none sparse (a 10 KB member can claim 1 GiB), at most ``max_members`` of them, their apparent
    sizes summing to at most ``max_bytes``."""
    members, total = [], 0
    while True:
        m = tar.next()
        if m is None:
            break
        if len(members) >= max_members:
            raise UserError(f"a cell returned more than {max_members:,} files; not landed")
        if m.issparse() or any(k.startswith("GNU.sparse") for k in (m.pax_headers or {})):
            raise UserError(f"a cell returned {m.name!r} as a sparse file; not landed")
        if not (m.isfile() or m.isdir()):
            raise UserError(f"a cell returned {m.name!r}, which is not a plain file; not landed")
        total += max(0, m.size)
        if total > max_bytes:
            raise UserError(f"a cell returned files of more than {max_bytes:,} bytes in all; not landed")
        members.append(m)
    return members


def unpack_folder(blob: bytes, dest: Path) -> Path:
    """Extract ``blob`` into ``dest`` (created): regular files and folders only, all inside ``dest``, bounded
    (``check_members``)."""
    if not isinstance(blob, (bytes, bytearray)):
        raise UserError(f"a cell returned {type(blob).__name__} for a folder; not landed")
    if len(blob) > MAX_BYTES:
        raise UserError(f"a cell returned {len(blob):,} bytes, more than a run and bundle can hold; not landed")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            members = check_members(tar)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise UserError(f"a cell returned a damaged folder ({exc.__class__.__name__}: {str(exc)[:120]}); "
                        "not landed") from None
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
    """Rewrite the JSON files in ``folder`` so the paths they record are the driver's, not the worker's. Each is
    read guarded (its size first, then encoding and nesting: ``read_json``), and run.json, export.json and model.json
    through their typed records, so a damaged file is a UserError (the cell's failed row), never a crash."""
    from ... import records

    for p in sorted(Path(folder).rglob("*.json")):
        if not p.is_file() or p.is_symlink():
            raise UserError(f"a cell returned {p.name}, which is not a plain file; not landed")
        if p.stat().st_size > MAX_JSON_BYTES:
            raise UserError(f"a cell returned {p.name} of {p.stat().st_size:,} bytes, more than a JSON file of "
                            "edgeprune holds; not landed")
        data = read_json(p, what=f"{p.name} returned by a cell")
        try:
            moved = _swap(data, mapping)
        except RecursionError:
            raise UserError(f"a cell returned {p.name} nested too deeply; not landed") from None
        if p.name in _TYPED:
            getattr(records, _TYPED[p.name]).from_dict(moved, f"{p.name} returned by a cell")
        if moved != data:
            write_json(p, moved)
