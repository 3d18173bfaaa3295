"""The built-in demo set: small synthetic photos of six shapes, generated in code, identical on every machine.

It is not trivial on purpose. Each image has a random background gradient, clutter strokes, a shape of random
colour, size, position and rotation, low contrast on some images and pixel noise, so a small CNN gets well above
chance but not to 100 %, and pruning costs show.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..jsonio import atomic_write_text

DEMO_VERSION = 2
DEMO_CLASSES = ("circle", "cross", "ring", "square", "stripes", "triangle")
DEMO_SIZE = 32
DEMO_PER_CLASS = 300


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
    for _ in range(rng.integers(0, 3)):  # clutter strokes
        pts = [tuple(rng.integers(0, s, 2).tolist()) for _ in range(2)]
        d.line(pts, fill=tuple(rng.integers(0, 256, 3).tolist()), width=int(rng.integers(2, 6)))
    r = s * rng.uniform(0.22, 0.38)
    cx, cy = rng.uniform(r, s - r), rng.uniform(r, s - r)
    ang = rng.uniform(0, 2 * math.pi)
    bgmean = (c0 + c1) / 2
    contrast = rng.uniform(80, 200)
    col = np.clip(bgmean + rng.choice([-1, 1], 3) * contrast * rng.uniform(0.5, 1, 3), 0, 255).astype(int)
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
            d.line([(cx + ox - dx, cy + oy - dy), (cx + ox + dx, cy + oy + dy)], fill=fill, width=max(2, w // 2))
    else:
        raise ValueError(kind)
    im = im.resize((size, size), Image.BILINEAR)
    arr = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(3, 14), (size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_demo(folder: str | Path, per_class: int = DEMO_PER_CLASS, size: int = DEMO_SIZE, seed: int = 0) -> Path:
    """Write the demo set as PNG class folders under ``folder`` (once; later calls re-use it)."""
    folder = Path(folder)
    marker = folder / ".complete"
    stamp = f"v{DEMO_VERSION} {per_class} {size} {seed}"
    if marker.is_file() and marker.read_text().strip() == stamp:
        return folder
    for label, kind in enumerate(DEMO_CLASSES):
        cdir = folder / kind
        cdir.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([seed, label, i])
            tmp = cdir / f".{i:04d}.png.tmp"
            render(kind, rng, size).save(tmp, format="PNG")
            os.replace(tmp, cdir / f"{i:04d}.png")
    atomic_write_text(marker, stamp + "\n")
    return folder
