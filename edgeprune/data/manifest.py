"""The split manifest: which file is in train, val or test. Written once per dataset and seed, then re-used."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..jsonio import read_json, write_json
from ..paths import safe_join
from .folders import scan_folder
from .split import stratified_split
from .trust import remember, require_known

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Manifest:
    root: Path  # absolute dataset folder; every path below is relative to it
    classes: list[str]
    seed: int
    splits: dict[str, list[tuple[str, int]]]
    skipped: dict[str, str] = field(default_factory=dict)  # relpath -> why it could not be used
    source: str = ""  # what the user named: a path or "demo"

    @property
    def hash(self) -> str:
        body = json.dumps(
            {"classes": self.classes, "splits": {k: self.splits[k] for k in SPLITS}}, sort_keys=True
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def counts(self) -> dict[str, list[int]]:
        out = {}
        for name in SPLITS:
            c = [0] * len(self.classes)
            for _, label in self.splits[name]:
                c[label] += 1
            out[name] = c
        return out

    def paths(self, split: str) -> list[str]:
        return [p for p, _ in self.splits[split]]

    def labels(self, split: str) -> list[int]:
        return [y for _, y in self.splits[split]]

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "hash": self.hash,
            "root": str(self.root),
            "source": self.source,
            "classes": self.classes,
            "seed": self.seed,
            "counts": self.counts(),
            "splits": {k: [list(item) for item in self.splits[k]] for k in SPLITS},
            "skipped": self.skipped,
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path, *, read_images: bool = True) -> "Manifest":
        """Read a manifest as untrusted input: a valid hash is required, the root must be a dataset folder the user
        named on this machine (see ``trust``), and every path must resolve inside it, symlinks included.

        ``read_images=False`` is for a sweep worker handed the decoded arrays by its driver: no image will be read
        from the root, so the root need not exist on this machine; the shape and hash checks still apply."""
        d = read_json(path, what="split manifest")
        try:
            if not isinstance(d, dict) or not isinstance(d.get("root"), str) or not isinstance(d.get("hash"), str):
                raise ValueError("it needs 'root' and 'hash'")
            classes = d["classes"]
            if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
                raise ValueError("'classes' must be a list of at least two names")
            seed = d["seed"]
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise ValueError("'seed' must be an integer")
            splits = {}
            for k in SPLITS:
                items = []
                for item in d["splits"][k]:
                    if not isinstance(item, list) or len(item) != 2:
                        raise ValueError(f"an entry of split {k!r} is not [path, label]")
                    rel, label = item
                    if not isinstance(rel, str) or not isinstance(label, int) or isinstance(label, bool) \
                            or not 0 <= label < len(classes):
                        raise ValueError(f"bad entry {item!r:.80}")
                    items.append((rel, label))
                splits[k] = items
            skipped = d.get("skipped", {})
            m = cls(root=Path(d["root"]), classes=classes, seed=seed, splits=splits,
                    skipped=skipped if isinstance(skipped, dict) else {}, source=str(d.get("source", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path} is not a valid split manifest ({exc}); re-create the run") from None
        if d["hash"] != m.hash:
            raise UserError(f"{path} was edited after it was written (hash mismatch); re-create the run")
        empty = [k for k in SPLITS if not m.splits[k]]
        if empty:  # as build_manifest refuses: nothing to score (a test split of none gave NaN and an empty bundle)
            raise UserError(f"{path}: the {empty[0]} split is empty; re-create the run from a folder with at least 10 "
                            "images per class")
        if not read_images:
            return m
        m.root = require_known(m.root, path)
        for k in SPLITS:
            for rel, _ in m.splits[k]:
                safe_join(m.root, rel)  # refuse paths that leave the dataset folder, through symlinks too
        return m


def build_manifest(
    path: str | Path,
    seed: int = 42,
    *,
    limit_per_class: int | None = None,
    check: Callable[[Path, list[str]], dict[str, str]] | None = None,
    source: str = "",
) -> Manifest:
    """Scan a folder and split it. ``check`` returns {relpath: reason} for files that cannot be decoded."""
    scan = scan_folder(path)
    remember(scan.root)  # the user named this folder: manifests may read from it
    skipped = {rel: "not an image file" for rel in scan.ignored}
    skipped.update(scan.links)
    pools = dict(scan.files)
    if check is not None:
        bad = check(scan.root, [rel for items in pools.values() for rel, _ in items])
        skipped.update(bad)
        pools = {k: [it for it in v if it[0] not in bad] for k, v in pools.items()}
    if limit_per_class:
        # quick runs: fewer training images; a folder's own test split stays whole, so scores stay comparable
        pools = {k: v if k == "test" else _limit(v, limit_per_class, seed) for k, v in pools.items()}
    if scan.has_test_split:
        train, val = stratified_split(pools["train"], (0.85, 0.15), seed)
        test = sorted(pools["test"])
    else:
        train, val, test = stratified_split(pools["pool"], DEFAULT_FRACTIONS, seed)
    m = Manifest(root=scan.root, classes=scan.classes, seed=seed,
                 splits={"train": train, "val": val, "test": test}, skipped=skipped, source=source or str(path))
    present = {y for _, y in train}
    if len(present) < 2:
        raise UserError(f"{scan.root}: fewer than two classes have usable images; check the files with `edgeprune data inspect`")
    for name in SPLITS:
        if not m.splits[name]:
            raise UserError(f"{scan.root}: the {name} split is empty; the folder has too few images (use at least 10 per class)")
    return m


def _limit(items: list[tuple[str, int]], n: int, seed: int) -> list[tuple[str, int]]:
    """Keep at most n items per class, chosen by seed (for quick runs)."""
    import numpy as np

    out = []
    for label in sorted({y for _, y in items}):
        members = sorted(it for it in items if it[1] == label)
        order = np.random.default_rng([seed, label, 7]).permutation(len(members))[:n]
        out.extend(members[i] for i in order)
    return sorted(out)
