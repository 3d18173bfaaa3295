"""The images a bench scores: a bundle's testset.npz, another .npz, or a folder of class folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError

TESTSET_FILE = "testset.npz"
LABELS_FILE = "labels.txt"


def read_labels(model: Path) -> list[str] | None:
    f = Path(model).parent / LABELS_FILE
    if not f.is_file():
        return None
    names = [line.strip() for line in f.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return names or None


def bundled_testset(model: Path) -> Path | None:
    f = Path(model).parent / TESTSET_FILE
    return f if f.is_file() else None


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, H, W, 3) uint8, y: (N,) int, read without pickle; each member's declared size and its .npy header's
    shape are bounded before the array is read (``safe_files.load_npz``: a 2 MB bundle can hold a 2 GiB array)."""
    from ..safe_files import load_npz as bounded_npz

    a = bounded_npz(path, ("x", "y"))
    x, y = a["x"], a["y"]
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise UserError(f"{path}: x must be uint8 images of shape (N, H, W, 3), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{path}: y must be one integer label per image")
    return x, y.astype(np.int64)


def load_folder(path: str | Path, size: int, labels: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode a folder of class folders with Pillow at the model's input size."""
    from ..data.decode import decode_many
    from ..data.folders import scan_folder

    scan = scan_folder(path)
    split = "test" if scan.has_test_split else "pool"
    items = scan.files[split]
    classes = scan.classes
    if labels:
        unknown = [c for c in classes if c not in labels]
        if unknown:
            raise UserError(f"{path}: classes {unknown} are not among the model's labels {labels}")
        remap = [labels.index(c) for c in classes]
        items = [(rel, remap[y]) for rel, y in items]
        classes = labels
    res = decode_many(scan.root, [r for r, _ in items], size)
    y = np.asarray([lab for (_, lab), ok in zip(items, res.ok) if ok], dtype=np.int64)
    if len(y) == 0:
        raise UserError(f"{path}: no image could be decoded")
    return res.images, y, classes
