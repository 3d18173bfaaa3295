"""Decode any image a real folder may hold into RGB uint8 at a fixed size, or say why not."""
from __future__ import annotations

import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np
from PIL import Image, ImageFile

from ..paths import is_inside

# Refuse images above this many pixels (a decompression bomb or a scan nobody meant to train on).
MAX_PIXELS = 120_000_000
# Bump when decoding changes the pixels a file gives: the decoded-image cache is keyed on it.
DECODER_VERSION = 2


@dataclass
class DecodeResult:
    images: np.ndarray  # (N, size, size, 3) uint8, only the good files
    ok: np.ndarray  # (len(paths),) bool
    errors: dict[str, str] = field(default_factory=dict)  # relpath -> reason
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (w, h) of good files


def open_regular(path: str | Path) -> BinaryIO:
    """Open a regular file for reading; a FIFO, device or socket is refused without blocking on it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def to_8bit(im: Image.Image) -> Image.Image:
    """Images of more than 8 bits per channel scaled to 8 bits by their bit depth (not clipped): 16-bit integer as
    x / 257, float in [0, 1] as x * 255. Float images outside [0, 1] and 32-bit integer images have no known range:
    ValueError."""
    if im.mode.startswith("I;16"):
        a = np.asarray(im).astype(np.float32)
        return Image.fromarray(np.round(a / 257.0).astype(np.uint8), "L")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("float pixels outside [0, 1]: save the image with 8 or 16 bits per channel")
        return Image.fromarray(np.round(a * 255.0).astype(np.uint8), "L")
    if im.mode == "I":
        raise ValueError("32-bit integer pixels have no known range: save the image with 8 or 16 bits per channel")
    return im


def decode_image(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB uint8 array of shape (size, size, 3). Raises ValueError with a short reason."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings(), open_regular(path) as fh:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fh) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f"too large ({w}x{h})")
                if w == 0 or h == 0:
                    raise ValueError("empty image")
                if im.format == "JPEG":
                    im.draft("RGB", (size, size))  # decode big JPEGs at reduced scale: much faster
                im = to_8bit(im)
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
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
    """Decode files (relative to root) in a thread pool; bad files are counted, never fatal. A file that resolves
    outside root (a link out of the dataset) is one of the bad files."""
    root = Path(root).resolve()
    n = len(relpaths)
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    errors: dict[str, str] = {}
    sizes: list[tuple[int, int] | None] = [None] * n

    def one(i: int) -> None:
        try:
            real = (root / relpaths[i]).resolve()
            if not is_inside(root, real):
                raise ValueError("a link that leads outside the dataset folder")
            out[i], sizes[i] = decode_image(real, size)
            ok[i] = True
        except ValueError as exc:
            errors[relpaths[i]] = str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, range(n)):
            if progress:
                progress(1)
    return DecodeResult(images=out[ok], ok=ok, errors=errors, sizes=[s for s in sizes if s is not None])
