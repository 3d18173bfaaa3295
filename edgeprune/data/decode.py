"""Decode any image a real folder may hold into RGB uint8 at a fixed size, or say why not."""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageFile

# Refuse images above this many pixels (a decompression bomb or a scan nobody meant to train on).
MAX_PIXELS = 120_000_000


@dataclass
class DecodeResult:
    images: np.ndarray  # (N, size, size, 3) uint8, only the good files
    ok: np.ndarray  # (len(paths),) bool
    errors: dict[str, str] = field(default_factory=dict)  # relpath -> reason
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (w, h) of good files


def decode_image(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB uint8 array of shape (size, size, 3). Raises ValueError with a short reason."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f"too large ({w}x{h})")
                if w == 0 or h == 0:
                    raise ValueError("empty image")
                if im.format == "JPEG":
                    im.draft("RGB", (size, size))  # decode big JPEGs at reduced scale: much faster
                if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(bg, im)
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ValueError(reason[:200]) from None
    return arr, (w, h)


def decode_many(
    root: str | Path,
    relpaths: Sequence[str],
    size: int,
    progress: Callable[[int], None] | None = None,
    workers: int = 4,
) -> DecodeResult:
    """Decode files (relative to root) in a thread pool; bad files are counted, never fatal."""
    root = Path(root)
    n = len(relpaths)
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    errors: dict[str, str] = {}
    sizes: list[tuple[int, int] | None] = [None] * n

    def one(i: int) -> None:
        try:
            out[i], sizes[i] = decode_image(root / relpaths[i], size)
            ok[i] = True
        except ValueError as exc:
            errors[relpaths[i]] = str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, range(n)):
            if progress:
                progress(1)
    return DecodeResult(images=out[ok], ok=ok, errors=errors, sizes=[s for s in sizes if s is not None])
