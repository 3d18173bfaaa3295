"""The built-in demo set: small synthetic photos of six shapes, generated in code, identical on every machine.

It is made to be learned: a large shape of random colour, size, position and rotation on a smooth background
gradient, at least moderate contrast, at most one thin clutter stroke and light pixel noise. The study CNN at 32 px
learns it to above 90 % test accuracy within `make demo`'s epochs, so what pruning costs is a difference between
models that learned, not noise around chance. The test split is written apart (``test/``) and is large (1,200
images), so the paired standard error of a pruned-minus-control difference stays near or below a point; validation
is carved from ``train/`` as for any folder with a kept test split.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import UserError
from ..jsonio import atomic_write_text

DEMO_VERSION = 3
DEMO_CLASSES = ("circle", "cross", "ring", "square", "stripes", "triangle")
DEMO_SIZE = 32
DEMO_PER_CLASS = 400  # training images per class (validation is carved from these)
DEMO_TEST_PER_CLASS = 200  # test images per class: 1,200 in all
MARKER = ".complete"
_SPLITS = ("train", "test")


def _polygon(cx: float, cy: float, r: float, n: int, angle: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(angle + 2 * math.pi * k / n), cy + r * math.sin(angle + 2 * math.pi * k / n)) for k in range(n)]


def render(kind: str, rng: np.random.Generator, size: int = DEMO_SIZE) -> Image.Image:
    """One demo image of the given class, drawn at 4x and downsampled for smooth edges."""
    s = size * 4
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, s)[None, :, None]
    bg = (c0 * (1 - t) + c1 * t).repeat(s, axis=0).astype(np.uint8)
    im = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(im)
    if rng.random() < 0.5:  # one thin clutter stroke on half the images
        pts = [tuple(rng.integers(0, s, 2).tolist()) for _ in range(2)]
        d.line(pts, fill=tuple(rng.integers(0, 256, 3).tolist()), width=int(rng.integers(2, 4)))
    r = s * rng.uniform(0.28, 0.40)
    cx, cy = rng.uniform(r, s - r), rng.uniform(r, s - r)
    ang = rng.uniform(0, 2 * math.pi)
    bgmean = (c0 + c1) / 2
    contrast = rng.uniform(120, 220)
    col = np.clip(bgmean + rng.choice([-1, 1], 3) * contrast * rng.uniform(0.6, 1, 3), 0, 255).astype(int)
    fill = tuple(col.tolist())
    w = max(3, int(r * 0.3))
    if kind == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=w)
    elif kind == "square":
        d.polygon(_polygon(cx, cy, r * 1.2, 4, ang), fill=fill)
    elif kind == "triangle":
        d.polygon(_polygon(cx, cy, r * 1.2, 3, ang), fill=fill)
    elif kind == "cross":
        for a in (ang, ang + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=w)
    elif kind == "stripes":
        gap = r * 0.55
        for k in (-1, 0, 1):
            ox, oy = -k * gap * math.sin(ang), k * gap * math.cos(ang)
            dx, dy = r * math.cos(ang), r * math.sin(ang)
            d.line([(cx + ox - dx, cy + oy - dy), (cx + ox + dx, cy + oy + dy)], fill=fill, width=max(3, w // 2))
    else:
        raise ValueError(kind)
    im = im.resize((size, size), Image.BILINEAR)
    arr = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(2, 8), (size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_demo(folder: str | Path, per_class: int = DEMO_PER_CLASS, size: int = DEMO_SIZE, seed: int = 0,
              test_per_class: int = DEMO_TEST_PER_CLASS) -> Path:
    """Write the demo set under ``folder`` as ``train/<class>/`` and ``test/<class>/`` PNG folders (once; later calls
    with the same sizes re-use it). Each image has its own random stream (seed, split, class, index), so a set is the
    same on every machine and the training images do not change with the number of test images."""
    folder = Path(folder)
    marker = folder / MARKER
    stamp = f"v{DEMO_VERSION} {per_class} {test_per_class} {size} {seed}"
    if not folder.is_symlink() and marker.is_file() and marker.read_text().strip() == stamp:
        return folder
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for split_id, (split, count) in enumerate(zip(_SPLITS, (per_class, test_per_class))):
        for label, kind in enumerate(DEMO_CLASSES):
            cdir = staging / split / kind
            cdir.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                render(kind, np.random.default_rng([seed, split_id, label, i]), size).save(cdir / f"{i:04d}.png", format="PNG")
    atomic_write_text(staging / MARKER, stamp + "\n")
    if folder.is_symlink() or folder.exists():
        _remove_old_demo(folder, staging)
    os.replace(staging, folder)
    return folder


def _remove_old_demo(folder: Path, staging: Path) -> None:
    """An earlier demo set (another version or size) makes way; a folder holding anything else is left alone."""
    ours = {MARKER, *_SPLITS, *DEMO_CLASSES}  # what this and earlier versions wrote
    odd = [] if folder.is_symlink() or not folder.is_dir() else sorted(p.name for p in folder.iterdir() if p.name not in ours)
    if folder.is_symlink() or not folder.is_dir() or odd:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"{folder} is not a demo set edgeprune wrote ({odd[0] if odd else 'not a plain folder'}); "
                        "move it away or use another workspace")
    shutil.rmtree(folder)
