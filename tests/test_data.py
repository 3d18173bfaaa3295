"""Datasets: class names, the split manifest, and every kind of bad file a real folder holds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_class_folders
from PIL import Image

from edgeprune.data.arrays import prepare
from edgeprune.data.decode import decode_image
from edgeprune.data.folders import scan_folder
from edgeprune.data.inspect import inspect_folder
from edgeprune.data.manifest import Manifest, build_manifest
from edgeprune.data.split import stratified_split
from edgeprune.errors import UserError


def test_split_is_stratified_deterministic_and_disjoint():
    items = [(f"c{c}/{i}.jpg", c) for c in range(3) for i in range(40 + 20 * c)]
    a = stratified_split(items, (0.7, 0.15, 0.15), seed=42)
    b = stratified_split(list(reversed(items)), (0.7, 0.15, 0.15), seed=42)
    assert a == b  # the listing order of the file system does not matter
    c = stratified_split(items, (0.7, 0.15, 0.15), seed=7)
    assert a != c  # the seed does
    assert sorted(x for part in a for x in part) == sorted(items)
    for label, n in [(0, 40), (1, 60), (2, 80)]:
        counts = [sum(1 for _, y in part if y == label) for part in a]
        assert counts == [round(0.7 * n), round(0.85 * n) - round(0.7 * n), n - round(0.85 * n)]


def test_italian_folders_become_english_classes(tmp_path):
    root = write_class_folders(tmp_path / "raw-img", classes=("cane", "gatto", "ragno", "zebra"), per_class=3)
    scan = scan_folder(root)
    assert scan.classes == ["cat", "dog", "spider", "zebra"]  # sorted English names; unknown names kept
    assert scan.folders == ["gatto", "cane", "ragno", "zebra"]


def test_train_test_layout_keeps_its_test_split(tmp_path):
    write_class_folders(tmp_path / "d" / "train", per_class=20)
    write_class_folders(tmp_path / "d" / "test", per_class=5, seed=1)
    m = build_manifest(tmp_path / "d", seed=42)
    assert all(p.startswith("test/") for p in m.paths("test"))
    assert len(m.splits["test"]) == 15
    assert all(p.startswith("train/") for p in m.paths("train") + m.paths("val"))
    assert len(m.splits["train"]) + len(m.splits["val"]) == 60


def rehash(d: dict) -> str:
    """The hash a manifest with these classes and splits carries (what anyone editing it can recompute)."""
    m = Manifest(root=Path(d["root"]), classes=d["classes"], seed=d["seed"],
                 splits={k: [tuple(i) for i in v] for k, v in d["splits"].items()})
    return m.hash


def test_manifest_round_trip_and_tamper_checks(tmp_path, tiny_data):
    m = build_manifest(tiny_data, seed=42)
    m.save(tmp_path / "split.json")
    again = Manifest.load(tmp_path / "split.json")
    assert again.hash == m.hash and again.splits == m.splits
    d = json.loads((tmp_path / "split.json").read_text())
    d["splits"]["test"][0][0] = "../../etc/passwd"
    (tmp_path / "evil.json").write_text(json.dumps({**d, "hash": rehash(d)}))  # an attacker recomputes the hash
    with pytest.raises(UserError, match="outside"):
        Manifest.load(tmp_path / "evil.json")
    d.pop("hash")
    (tmp_path / "nohash.json").write_text(json.dumps(d))
    with pytest.raises(UserError, match="hash"):
        Manifest.load(tmp_path / "nohash.json")
    d = json.loads((tmp_path / "split.json").read_text())
    d["splits"]["test"].pop()
    (tmp_path / "edited.json").write_text(json.dumps(d))
    with pytest.raises(UserError, match="hash"):
        Manifest.load(tmp_path / "edited.json")


@pytest.mark.parametrize("make, needle", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "class folder"),
    (lambda p: write_class_folders(p, classes=("only",), per_class=3), "at least two"),
    (lambda p: (p / "a").mkdir(parents=True) or (p / "b").mkdir(), "no image files"),
    (lambda p: p.write_text("x"), "not a folder"),
])
def test_bad_dataset_paths(tmp_path, make, needle):
    p = tmp_path / "ds"
    make(p)
    with pytest.raises(UserError, match=needle):
        scan_folder(p)


def _bad_files(root):
    """One of each kind of file that real folders hold."""
    a = root / "a"
    good = np.asarray(Image.open(next(a.glob("*.jpg"))))
    (a / "zero.jpg").write_bytes(b"")
    data = (a / "000.jpg").read_bytes()
    (a / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (a / "notes.txt").write_text("not an image")
    (a / "fake.jpg").write_text("text pretending to be a jpeg")
    Image.fromarray(np.dstack([good, np.full(good.shape[:2], 128, np.uint8)])).save(a / "alpha.png")
    Image.fromarray(good).convert("L").save(a / "gray.png")
    Image.fromarray(good).convert("CMYK").save(a / "cmyk.jpg")
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(a / "large.jpg")


def test_bad_files_are_decoded_or_skipped(tmp_path, tiny_data):
    _bad_files(tiny_data)
    for name in ("alpha.png", "gray.png", "cmyk.jpg", "large.jpg"):
        arr, _ = decode_image(tiny_data / "a" / name, 16)
        assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    for name in ("zero.jpg", "truncated.jpg", "fake.jpg"):
        with pytest.raises(ValueError):
            decode_image(tiny_data / "a" / name, 16)
    manifest, arrays = prepare(tiny_data, 16, 42, tmp_path / "cache")
    assert set(manifest.skipped) == {"a/zero.jpg", "a/truncated.jpg", "a/fake.jpg", "a/notes.txt"}
    used = {p for s in ("train", "val", "test") for p in manifest.paths(s)}
    assert {"a/alpha.png", "a/gray.png", "a/cmyk.jpg", "a/large.jpg"} <= used
    assert sum(len(a.y) for a in arrays.values()) == 36 + 4
    ins = inspect_folder(tiny_data)
    assert set(ins.bad) == {"a/zero.jpg", "a/truncated.jpg", "a/fake.jpg"} and ins.ignored == ["a/notes.txt"]
    assert ins.counts["pool"]["a"] == 16 and ins.sizes["width_max"] == 3000


def test_decompression_bomb_is_refused(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(p)  # 144 Mpx, a few kB on disk
    with pytest.raises(ValueError, match="large|bomb|exceeds"):
        decode_image(p, 16)


def test_demo_set_is_deterministic_with_a_kept_test_split(tmp_path):
    from edgeprune.data.demo import DEMO_CLASSES, make_demo

    a = make_demo(tmp_path / "a", per_class=4, test_per_class=3)
    b = make_demo(tmp_path / "b", per_class=4, test_per_class=3)
    for split, n in (("train", 4), ("test", 3)):
        assert sorted(p.name for p in (a / split).iterdir()) == sorted(DEMO_CLASSES)
        assert all(len(list((a / split / c).glob("*.png"))) == n for c in DEMO_CLASSES)
    files = sorted(a.rglob("*.png"))
    assert len(files) == 7 * len(DEMO_CLASSES)
    for f in files:
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()
    assert (a / "train/circle/0000.png").read_bytes() != (a / "test/circle/0000.png").read_bytes()  # own streams
    # more test images leave the training images as they were
    c = make_demo(tmp_path / "c", per_class=4, test_per_class=5)
    assert all(f.read_bytes() == (c / f.relative_to(a)).read_bytes() for f in sorted((a / "train").rglob("*.png")))
    m = build_manifest(a, seed=42)  # the test split is kept as written; validation comes from train/
    assert len(m.splits["test"]) == 3 * len(DEMO_CLASSES)
    assert len(m.splits["train"]) + len(m.splits["val"]) == 4 * len(DEMO_CLASSES)
    assert all(rel.startswith("test/") for rel, _ in m.splits["test"])


def test_demo_test_split_resolves_a_three_point_difference():
    """The report's paired s.e. of pruned minus control stays <= 1.5 points on the demo's test split, even if the two
    models' errors were independent at 90 % accuracy each (they disagree on 18 % of images; pruned models and their
    controls agree far more)."""
    from edgeprune.data.demo import DEMO_CLASSES, DEMO_TEST_PER_CLASS
    from edgeprune.paired_accuracy import paired_difference

    n = DEMO_TEST_PER_CLASS * len(DEMO_CLASSES)
    rng = np.random.default_rng(0)
    a, b = rng.random(n) < 0.9, rng.random(n) < 0.9
    assert np.mean(a != b) > 0.15
    assert paired_difference(a, b).se <= 0.015


def test_demo_set_replaces_an_older_version_but_no_other_folder(tmp_path):
    from edgeprune.data.demo import MARKER, make_demo

    old = tmp_path / "old"  # what version 2 wrote: class folders at the top
    (old / "circle").mkdir(parents=True)
    (old / "circle" / "0000.png").write_bytes(b"x")
    (old / MARKER).write_text("v2 300 32 0\n")
    make_demo(old, per_class=2, test_per_class=1)
    assert sorted(p.name for p in old.iterdir()) == [MARKER, "test", "train"]
    stamp = (old / MARKER).stat().st_mtime_ns
    make_demo(old, per_class=2, test_per_class=1)  # the same set again: re-used, not rewritten
    assert (old / MARKER).stat().st_mtime_ns == stamp
    mine = tmp_path / "mine"
    (mine / "circle").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a demo set"):
        make_demo(mine, per_class=2, test_per_class=1)
    assert (mine / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["mine", "old"]
