"""`edgeprune data inspect`: what a dataset folder holds, and which files cannot be used."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import Reporter, Silent
from .decode import decode_many
from .folders import scan_folder
from .trust import remember


@dataclass
class Inspection:
    root: str
    classes: list[str]
    folders: list[str]
    counts: dict[str, dict[str, int]]  # split -> class -> usable images
    bad: dict[str, str] = field(default_factory=dict)  # relpath -> reason
    ignored: list[str] = field(default_factory=list)  # not image files
    sizes: dict[str, float] = field(default_factory=dict)  # width/height statistics


def inspect_folder(path: str | Path, reporter: Reporter | None = None) -> Inspection:
    reporter = reporter or Silent()
    scan = scan_folder(path)
    remember(scan.root)  # the user named this folder: split manifests may read from it
    counts: dict[str, dict[str, int]] = {}
    bad: dict[str, str] = dict(scan.links)
    wh: list[tuple[int, int]] = []
    for split, items in scan.files.items():
        rels = [r for r, _ in items]
        reporter.task(f"decoding {split}", len(rels))
        res = decode_many(scan.root, rels, 8, progress=lambda n: reporter.advance(n))
        reporter.done()
        bad.update(res.errors)
        wh.extend(res.sizes)
        c = {name: 0 for name in scan.classes}
        for (_, label), ok in zip(items, res.ok):
            if ok:
                c[scan.classes[label]] += 1
        counts[split] = c
    sizes = {}
    if wh:
        a = np.asarray(wh, dtype=float)
        sizes = {"width_min": a[:, 0].min(), "width_median": float(np.median(a[:, 0])), "width_max": a[:, 0].max(),
                 "height_min": a[:, 1].min(), "height_median": float(np.median(a[:, 1])), "height_max": a[:, 1].max()}
    return Inspection(str(scan.root), scan.classes, scan.folders, counts, bad, scan.ignored, sizes)
