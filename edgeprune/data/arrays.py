"""Decoded images of a manifest's splits, decoded once and cached as uint8 arrays in the workspace."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..jsonio import atomic_write_bytes
from ..progress import Reporter, Silent
from .decode import decode_many
from .manifest import SPLITS, Manifest, build_manifest


@dataclass
class SplitArrays:
    x: np.ndarray  # (N, H, W, 3) uint8
    y: np.ndarray  # (N,) int32


def cache_path(cache_dir: Path, manifest: Manifest, size: int) -> Path:
    return Path(cache_dir) / f"{manifest.hash}-{size}.npz"


def load_npz_arrays(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read named arrays from an .npz without pickle; a corrupt file is an error, not a crash."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [n for n in names if n not in f.files]
            if missing:
                raise UserError(f"{path} lacks the arrays {missing}")
            return {n: f[n] for n in names}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npz file ({str(exc).splitlines()[0][:120]})") from None


def _save(path: Path, arrays: dict[str, SplitArrays]) -> None:
    buf = io.BytesIO()
    flat = {}
    for k, a in arrays.items():
        flat[f"{k}_x"], flat[f"{k}_y"] = a.x, a.y
    np.savez(buf, **flat)
    atomic_write_bytes(path, buf.getvalue())


def load_split_arrays(manifest: Manifest, size: int, cache_dir: Path, reporter: Reporter | None = None) -> dict[str, SplitArrays]:
    """Arrays for train/val/test. Files the manifest names must still decode; the cache makes later runs instant."""
    path = cache_path(cache_dir, manifest, size)
    if path.is_file():
        try:
            f = load_npz_arrays(path, tuple(f"{k}_{v}" for k in SPLITS for v in "xy"))
            out = {k: SplitArrays(f[f"{k}_x"], f[f"{k}_y"]) for k in SPLITS}
            if all(len(out[k].y) == len(manifest.splits[k]) for k in SPLITS):
                return out
        except UserError:
            pass  # a damaged cache is rebuilt
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
    _save(path, out)
    return out


def prepare(source: str | Path, size: int, seed: int, cache_dir: Path, *, limit_per_class: int | None = None,
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
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    _save(cache_path(cache_dir, manifest, size), arrays)
    return manifest, arrays
