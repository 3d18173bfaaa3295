"""Decoded images of a manifest's splits, decoded once and cached as uint8 arrays in the user's cache folder.

The cache key covers what decides the pixels: the decoder's version, the dataset's resolved folder, the split, the
image size, and each file's size and modification time. Another dataset with the same file names, or an image
edited in place, is decoded again rather than served from the cache. Writes are atomic (temporary file, then
rename), so two commands filling the cache at once each leave a whole file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..jsonio import atomic_write_bytes
from ..progress import Reporter, Silent
from ..safe_files import MAX_NPZ_ARRAY_BYTES, MAX_TOTAL_BYTES, load_npz, open_zip
from ..userdirs import cache_root
from .decode import DECODER_VERSION, decode_many
from .manifest import SPLITS, Manifest, build_manifest


@dataclass
class SplitArrays:
    x: np.ndarray  # (N, H, W, 3) uint8
    y: np.ndarray  # (N,) int32


def default_cache_dir() -> Path:
    return cache_root() / "decoded"


def cache_path(cache_dir: Path | None, manifest: Manifest, size: int) -> Path | None:
    """The cache file for these images, or None when a file cannot be looked at (decoding then says why)."""
    h = hashlib.sha256(json.dumps([DECODER_VERSION, str(Path(manifest.root).resolve()), manifest.hash, size]).encode())
    try:
        for k in SPLITS:
            for rel in manifest.paths(k):
                st = os.stat(Path(manifest.root) / rel)
                h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except (OSError, ValueError):
        return None
    return Path(cache_dir or default_cache_dir()) / f"{manifest.hash}-{size}-{h.hexdigest()[:24]}.npz"


def load_npz_arrays(path: str | Path, names: tuple[str, ...] | None = None, *, max_array: int = MAX_NPZ_ARRAY_BYTES,
                    max_total: int = MAX_TOTAL_BYTES) -> dict[str, np.ndarray]:
    """Read named arrays (all, in file order, when names is None) from an .npz through the bounded reader
    (``safe_files.load_npz``: each member's declared size and .npy header checked before it is read, no pickle); a
    corrupt file is an error, not a crash. Only regular files are opened (a FIFO would block)."""
    if not Path(path).is_file():
        raise UserError(f"{path} is not a regular file")
    if names is None:
        with open_zip(path, "readable .npz file") as zf:
            names = tuple(n[:-4] for n in zf.namelist() if n.endswith(".npy"))
    return load_npz(path, names, max_array=max_array, max_total=max_total)


def _save(path: Path, arrays: dict[str, SplitArrays]) -> None:
    buf = io.BytesIO()
    flat = {}
    for k, a in arrays.items():
        flat[f"{k}_x"], flat[f"{k}_y"] = a.x, a.y
    np.savez(buf, **flat)
    atomic_write_bytes(path, buf.getvalue())


def _cached(path: Path, manifest: Manifest, size: int) -> dict[str, SplitArrays] | None:
    """The cached arrays when the file is whole and has the expected shapes and labels, else None (rebuilt)."""
    largest = max(len(manifest.splits[k]) for k in SPLITS) * size * size * 3  # the biggest array these images make
    total = sum(len(manifest.splits[k]) * (size * size * 3 + 8) for k in SPLITS)
    try:
        f = load_npz_arrays(path, tuple(f"{k}_{v}" for k in SPLITS for v in "xy"), max_array=largest + 1024,
                            max_total=total + 64 * 1024)
    except UserError:
        return None
    out = {k: SplitArrays(f[f"{k}_x"], f[f"{k}_y"]) for k in SPLITS}
    for k in SPLITS:
        a, n = out[k], len(manifest.splits[k])
        if a.x.dtype != np.uint8 or a.x.shape != (n, size, size, 3) or a.y.shape != (n,) \
                or not np.array_equal(a.y, np.asarray(manifest.labels(k), dtype=a.y.dtype)):
            return None
    return out


def load_split_arrays(manifest: Manifest, size: int, cache_dir: Path | None = None,
                      reporter: Reporter | None = None) -> dict[str, SplitArrays]:
    """Arrays for train/val/test. Files the manifest names must still decode; the cache makes later runs instant."""
    path = cache_path(cache_dir, manifest, size)
    if path is not None and path.is_file():
        out = _cached(path, manifest, size)
        if out is not None:
            return out
    reporter = reporter or Silent()
    out = {}
    for k in SPLITS:
        rels = manifest.paths(k)
        reporter.task(f"decoding {k} images", len(rels))
        res = decode_many(manifest.root, rels, size, progress=lambda n: reporter.advance(n))
        if res.errors:
            rel, why = next(iter(res.errors.items()))
            raise UserError(f"{rel} is in the split manifest but can no longer be decoded ({why}); the dataset changed since the run was made")
        out[k] = SplitArrays(res.images, np.asarray(manifest.labels(k), dtype=np.int32))
    reporter.done()
    path = cache_path(cache_dir, manifest, size)
    if path is not None:
        _save(path, out)
    return out


def prepare(source: str | Path, size: int, seed: int, cache_dir: Path | None = None, *, limit_per_class: int | None = None,
            reporter: Reporter | None = None) -> tuple[Manifest, dict[str, SplitArrays]]:
    """Scan, decode (skipping bad files), split and cache a dataset folder in one pass over the images."""
    reporter = reporter or Silent()
    decoded: dict[str, np.ndarray] = {}

    def check(root: Path, rels: list[str]) -> dict[str, str]:
        reporter.task("decoding images", len(rels))
        res = decode_many(root, rels, size, progress=lambda n: reporter.advance(n))
        reporter.done()
        good = [r for r, ok in zip(rels, res.ok) if ok]
        decoded.update(zip(good, res.images))
        return res.errors

    manifest = build_manifest(source, seed, limit_per_class=limit_per_class, check=check, source=str(source))
    arrays = {}
    for k in SPLITS:
        rels = manifest.paths(k)
        arrays[k] = SplitArrays(np.stack([decoded[r] for r in rels]) if rels else np.zeros((0, size, size, 3), np.uint8),
                                np.asarray(manifest.labels(k), dtype=np.int32))
    path = cache_path(cache_dir, manifest, size)
    if path is not None:
        _save(path, arrays)
    return manifest, arrays
