"""Find the classes and image files of a dataset folder.

Two layouts are understood:
- ``ROOT/<class>/*.jpg`` (Animals-10's ``raw-img/``): one pool, split 70/15/15 later;
- ``ROOT/train/<class>/...`` and ``ROOT/test/<class>/...``: the test split is kept as given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

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
    has_test_split: bool = False


def _class_folders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files_of(folder: Path, root: Path, label: int, ignored: list[str]) -> list[tuple[str, int]]:
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() in IMAGE_SUFFIXES:
            out.append((rel, label))
        else:
            ignored.append(rel)
    return out


def scan_folder(path: str | Path) -> FolderScan:
    """List the classes and files of PATH, or raise UserError saying what is wrong with it."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give a folder of class sub-folders of images")
    root = root.resolve()
    subdirs = {p.name: p for p in _class_folders(root)}
    has_split = "train" in subdirs and "test" in subdirs
    base = subdirs["train"] if has_split else root
    class_dirs = _class_folders(base)
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
    scan = FolderScan(root=root, classes=classes, folders=folders, has_test_split=has_split)
    splits = {"pool": base} if not has_split else {"train": subdirs["train"], "test": subdirs["test"]}
    for split, split_dir in splits.items():
        items: list[tuple[str, int]] = []
        for label, folder in enumerate(folders):
            cdir = split_dir / folder
            if cdir.is_dir():
                items.extend(_files_of(cdir, root, label, scan.ignored))
        scan.files[split] = items
    total = sum(len(v) for v in scan.files.values())
    if total == 0:
        raise UserError(f"{root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if has_split and not scan.files["test"]:
        raise UserError(f"{root}/test holds no images for the classes in {root}/train")
    return scan
