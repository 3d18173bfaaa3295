"""Find the classes and image files of a dataset folder.

Two layouts are understood:
- ``ROOT/<class>/*.jpg`` (Animals-10's ``raw-img/``): one pool, split 70/15/15 later;
- ``ROOT/train/<class>/...`` and ``ROOT/test/<class>/...``: the test split is kept as given.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..paths import is_inside

# Animals-10 ships Italian folder names; users expect English class names.
ITALIAN_CLASS_NAMES = {
    "cane": "dog",
    "cavallo": "horse",
    "elefante": "elephant",
    "farfalla": "butterfly",
    "gallina": "chicken",
    "gatto": "cat",
    "mucca": "cow",
    "pecora": "sheep",
    "ragno": "spider",
    "scoiattolo": "squirrel",
}

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def class_name(folder: str) -> str:
    """English name for an Animals-10 folder; any other name is used as it is."""
    return ITALIAN_CLASS_NAMES.get(folder.lower(), folder)


@dataclass
class FolderScan:
    """What a dataset folder holds: files by class, relative to ``root``."""

    root: Path
    classes: list[str]  # English names, sorted, in output order
    folders: list[str]  # the folder name of each class, same order
    files: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # split -> [(relpath, label)]
    ignored: list[str] = field(default_factory=list)  # files skipped by suffix (text files, ...)
    links: dict[str, str] = field(default_factory=dict)  # relpath -> why a link or special file was skipped
    has_test_split: bool = False


# One rule for links, in scanning and loading alike: a file or class folder is used only when it resolves inside the
# dataset folder. Links that leave it, and anything that is not a regular file, are skipped and counted.
LEAVES_DATASET = "a link that leads outside the dataset folder"


def _class_folders(path: Path, root: Path, links: dict[str, str]) -> list[Path]:
    out = []
    for p in path.iterdir():
        if p.name.startswith(".") or not p.is_dir():
            continue
        if not is_inside(root, p.resolve()):
            links[p.relative_to(root).as_posix()] = LEAVES_DATASET
            continue
        out.append(p)
    return sorted(out)


def _files_of(folder: Path, root: Path, label: int, ignored: list[str], links: dict[str, str]) -> list[tuple[str, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if d.startswith(".") or (here / d).is_symlink():
                if (here / d).is_symlink():
                    links[(here / d).relative_to(root).as_posix()] = "a linked folder inside a class folder (not followed)"
                dirnames.remove(d)
        for name in filenames:
            if name.startswith("."):
                continue
            p = here / name
            rel = p.relative_to(root).as_posix()
            real = p.resolve()
            if not is_inside(root, real):
                links[rel] = LEAVES_DATASET
            elif not real.is_file():
                links[rel] = "not a regular file"
            elif p.suffix.lower() in IMAGE_SUFFIXES:
                out.append((rel, label))
            else:
                ignored.append(rel)
    return sorted(out)


def scan_folder(path: str | Path) -> FolderScan:
    """List the classes and files of PATH, or raise UserError saying what is wrong with it."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give a folder of class sub-folders of images")
    root = root.resolve()
    links: dict[str, str] = {}
    subdirs = {p.name: p for p in _class_folders(root, root, links)}
    has_split = "train" in subdirs and "test" in subdirs
    base = subdirs["train"] if has_split else root
    class_dirs = _class_folders(base, root, links)
    if len(class_dirs) < 2:
        raise UserError(
            f"{base} has {len(class_dirs)} class folder(s); a dataset needs at least two sub-folders of images, one per class"
        )
    names = [class_name(p.name) for p in class_dirs]
    if len(set(names)) != len(names):
        raise UserError(f"{base}: two class folders map to the same class name: {sorted(names)}")
    order = sorted(range(len(names)), key=lambda i: names[i])
    classes = [names[i] for i in order]
    folders = [class_dirs[i].name for i in order]
    if has_split:
        test_only = sorted({p.name for p in _class_folders(subdirs["test"], root, links)} - set(folders))
        if test_only:
            raise UserError(f"{root}/test has class folders that {root}/train lacks: {test_only}; a model cannot learn "
                            "a class it never sees in training. Add training images or move those folders out")
    scan = FolderScan(root=root, classes=classes, folders=folders, has_test_split=has_split, links=links)
    splits = {"pool": base} if not has_split else {"train": subdirs["train"], "test": subdirs["test"]}
    for split, split_dir in splits.items():
        items: list[tuple[str, int]] = []
        for label, folder in enumerate(folders):
            cdir = split_dir / folder
            if cdir.is_dir():
                items.extend(_files_of(cdir, root, label, scan.ignored, scan.links))
        scan.files[split] = items
    total = sum(len(v) for v in scan.files.values())
    if total == 0:
        raise UserError(f"{root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if has_split and not scan.files["test"]:
        raise UserError(f"{root}/test holds no images for the classes in {root}/train")
    return scan
