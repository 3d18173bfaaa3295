"""Hostile and careless inputs: every defect of the hostile-input run, reproduced with inputs built here.

Each test names the defect it reproduces (issue: "Nothing lost, nothing read from outside, no traceback").
"""
from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    assert_user_error,
    private_run,
    rewrite_manifest,
    run_cli,
    run_inproc,
    tree_state,
    write_class_folders,
)
from PIL import Image

from edgeprune.errors import UserError

# --- 1. export never deletes a folder that is not a bundle ----------------------------------------------------------

def test_export_of_dotdot_from_inside_a_run_deletes_nothing(tiny_run, tmp_path):
    ws, _ = private_run(tiny_run, tmp_path)
    sub = ws / "tiny" / "sub"
    sub.mkdir()
    (sub / "keep.txt").write_text("mine")
    before = tree_state(ws)
    # `..` is the run; the default bundle is then <workspace>/exports/<the run's real name>, never exports/..
    proc = run_inproc("export", "..", "-w", str(ws), "--formats", "fp32", "-q", cwd=sub)
    assert proc.returncode == 0, proc.stderr
    assert (ws / "exports" / "tiny" / "fp32.tflite").is_file()
    files = lambda state: {k: v for k, v in state.items() if stat.S_ISREG(v[0])}  # noqa: E731
    assert {k: v for k, v in files(tree_state(ws)).items() if not k.startswith("exports/")} == files(before)
    # --out .. --force would replace the folder holding the current one: refused, nothing touched
    before = tree_state(ws)
    assert_user_error(run_inproc("export", "..", "--out", "..", "--force", "-w", str(ws), cwd=sub), "current folder")
    assert_user_error(run_inproc("export", "..", "--out", ".", "--force", "-w", str(ws), cwd=sub), "current folder")
    assert tree_state(ws) == before


def test_export_force_replaces_only_a_bundle(tiny_run, tmp_path):
    ws, _ = private_run(tiny_run, tmp_path)
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "a.jpg").write_bytes(b"precious")
    proc = run_inproc("export", str(ws / "tiny"), "--out", str(mine), "--force", "--formats", "fp32", "-w", str(ws))
    assert_user_error(proc, "not an export bundle made by edgeprune")
    assert (mine / "a.jpg").read_bytes() == b"precious"
    # a file, or a link to a folder, is never replaced either
    (tmp_path / "f").write_text("x")
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(tmp_path / "f"), "--force", "-w", str(ws)),
                      "not an export bundle folder")
    (tmp_path / "link").symlink_to(mine)
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(tmp_path / "link"), "--force", "-w", str(ws)),
                      "not an export bundle folder")
    assert (mine / "a.jpg").read_bytes() == b"precious"


def test_train_force_replaces_only_a_run(tmp_path, tiny_data):
    ws = tmp_path / "runs"
    (ws / "notes").mkdir(parents=True)
    (ws / "notes" / "todo.txt").write_text("mine")
    proc = run_inproc("train", "--data", str(tiny_data), "--out", "notes", "--force", "-w", str(ws), "--epochs", "1")
    assert_user_error(proc, "not a run made by edgeprune")
    assert (ws / "notes" / "todo.txt").read_text() == "mine"
    assert not list(ws.glob(".*partial"))


# --- 2. a crafted split.json cannot read images from outside its dataset ---------------------------------------------

def test_crafted_manifest_cannot_read_outside_images(tiny_run, tmp_path):
    ws, data = private_run(tiny_run, tmp_path)
    outside = tmp_path / "private"
    outside.mkdir()
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(outside / "secret.png")
    split = ws / "tiny" / "split.json"
    good = split.read_text()
    # root moved to "/" with paths rehashed: "/" is no dataset folder the user named
    rewrite_manifest(split, lambda d: d.update(root="/", splits={
        k: [[str((Path(d["root"]) / p).relative_to("/")), y] for p, y in v] for k, v in d["splits"].items()}))
    out = tmp_path / "bundle"
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(out), "-w", str(ws)),
                      "not named as a dataset")
    # a path that climbs out of the (named) dataset folder, rehashed
    split.write_text(good)
    rel = os.path.relpath(outside / "secret.png", data)
    rewrite_manifest(split, lambda d: d["splits"]["test"].__setitem__(0, [rel, 0]))
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(out), "-w", str(ws)), "outside")
    # a link inside the dataset that leads out of it
    split.write_text(good)
    first = json.loads(good)["splits"]["test"][0][0]
    (data / first).unlink()
    (data / first).symlink_to(outside / "secret.png")
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(out), "-w", str(ws)), "outside")
    # and without a hash the manifest is refused whatever it says
    d = json.loads(good)
    d.pop("hash")
    split.write_text(json.dumps(d))
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(out), "-w", str(ws)), "split manifest")
    assert not out.exists()


# --- 3. one hostile bundle is one error row ---------------------------------------------------------------------------

@pytest.mark.parametrize("export_json", ['{"files": 5}', "null", "[" * 50000 + "]" * 50000,
                                         '{"kind": "edgeprune-export", "files": [{"file": "fp32.tflite"}]}'])
def test_a_hostile_bundle_is_one_error_row(tiny_bundle, tmp_path, export_json):
    from edgeprune.device.bench import BenchOptions, bench

    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(tiny_bundle / "fp32.tflite", bad / "fp32.tflite")
    (bad / "export.json").write_text(export_json)
    res = bench([bad / "fp32.tflite", tiny_bundle / "int8.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                                                 runs=2, warmup=0))
    assert "damaged" in res.rows[0].error and "\n" not in res.rows[0].error
    assert res.rows[1].error is None and res.rows[1].accuracy is not None


# --- 4. nothing hangs --------------------------------------------------------------------------------------------------

def test_a_fifo_in_a_manifest_or_as_data_does_not_hang(tiny_run, tiny_bundle, tmp_path):
    ws, data = private_run(tiny_run, tmp_path)
    split = ws / "tiny" / "split.json"
    first = json.loads(split.read_text())["splits"]["test"][0][0]
    (data / first).unlink()
    os.mkfifo(data / first)
    proc = run_cli("export", str(ws / "tiny"), "--out", str(tmp_path / "b"), "-w", str(ws), timeout=300)
    assert_user_error(proc, "not a regular file")
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--data", str(fifo), timeout=120)
    assert_user_error(proc, "neither a folder nor a regular file")


def test_bench_timeout_is_an_option(tiny_bundle, tmp_path, monkeypatch):
    from conftest import ROOT

    from edgeprune.device.bench import BenchOptions, bench

    fake = tmp_path / "fake" / "ai_edge_litert"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "interpreter.py").write_text("import time\nclass Interpreter:\n    def __init__(self, *a, **k):\n"
                                         "        time.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "fake"), str(ROOT)]))
    row = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                            runs=1, warmup=0, runtime="ai-edge-litert",
                                                            timeout_s=3)).rows[0]
    assert "timed out after 3 s" in row.error
    assert_user_error(run_inproc("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--timeout", "0"), "--timeout")


# --- 5. the decode cache never mixes datasets --------------------------------------------------------------------------

def test_decode_cache_is_keyed_on_the_dataset_and_its_files(tmp_path):
    from edgeprune.data.arrays import load_split_arrays, prepare
    from edgeprune.data.manifest import build_manifest

    x = write_class_folders(tmp_path / "x", per_class=12, seed=0)
    y = write_class_folders(tmp_path / "y", per_class=12, seed=1)  # same file names, other pixels
    cache = tmp_path / "cache"
    mx, ax = prepare(x, 16, 42, cache)
    my = build_manifest(y, 42)
    assert my.hash == mx.hash  # same classes and names: the old key could not tell them apart
    ay = load_split_arrays(my, 16, cache)
    assert not np.array_equal(ax["test"].x, ay["test"].x)
    fresh = load_split_arrays(build_manifest(y, 42), 16, tmp_path / "other-cache")
    assert np.array_equal(ay["test"].x, fresh["test"].x)  # y's own pixels
    # an image edited in place is read again
    rel = my.paths("test")[0]
    Image.fromarray(np.full((16, 16, 3), 3, np.uint8)).save(y / rel, quality=95)
    os.utime(y / rel, ns=(1, 1))
    edited = load_split_arrays(my, 16, cache)
    assert edited["test"].x[0].mean() < 10 and ay["test"].x[0].mean() > 10


# --- 6. sweep: stale runs are not reused, options are checked before the first cell ------------------------------------

def test_sweep_reuses_only_a_run_made_with_the_same_options(tiny_run, tmp_path):
    from edgeprune.study.sweep import Cell, SweepOptions, prune_options, reusable_run
    from edgeprune.pruner import prune
    from edgeprune.workspace import Run

    run, _ = tiny_run
    ws = tmp_path / "ws"
    o3 = SweepOptions(methods=["weight"], values=[0.5], epochs=3, lr=1e-3, batch_size=16)
    cell = Cell("weight-50", "weight", 0.5)
    name = f"{run.name}-{cell.key}"
    prune(run, ws, prune_options(cell, o3, name))
    assert isinstance(reusable_run(run, ws, name, prune_options(cell, o3, name)), Run)
    o4 = SweepOptions(methods=["weight"], values=[0.5], epochs=4, lr=1e-3, batch_size=16)
    assert reusable_run(run, ws, name, prune_options(cell, o4, name)) is None


@pytest.mark.parametrize("option", [("--epochs", "0"), ("--hybrid-ratio", "2"), ("--round-to", "0"), ("--runs", "0"),
                                    ("--lr", "nan"), ("--batch-size", "0"), ("--values", ","), ("--formats", "onnx")])
def test_sweep_checks_every_option_before_the_first_cell(tiny_run, tmp_path, option):
    run, ws = tiny_run
    out = tmp_path / "sweep"
    proc = run_inproc("sweep", "tiny", "--method", "weight,filter,hybrid", "--values", "0.5", *option,
                      "--out", str(out), "-w", str(ws))
    assert_user_error(proc, option[0])
    assert not (out / "results.jsonl").exists()


def test_sweep_passes_over_bad_lines_of_an_existing_results_file(tmp_path):
    from edgeprune.study.sweep import done_keys

    good = {"kind": "edgeprune-sweep-cell", "cell": "weight-50", "method": "weight", "value": 0.5}
    lines = [json.dumps(good), '{"kind": "edgeprune-sweep-cell"', "null", "[" * 30000, json.dumps({**good, "cell": 5}),
             json.dumps({"kind": "edgeprune-sweep-cell", "cell": "x", "method": "weight", "value": "0.5"})]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    assert list(done_keys(tmp_path / "results.jsonl")) == ["weight-50"]


# --- 7. sensitivity never overwrites a file without --force ------------------------------------------------------------

def test_sensitivity_output_rules(tiny_run, tmp_path):
    run, ws = tiny_run
    (tmp_path / "s.csv").write_text("mine")
    assert_user_error(run_inproc("sensitivity", "tiny", "--ratios", "0.5", "--out", str(tmp_path / "s.json"),
                                 "-w", str(ws)), "s.csv", "--force")
    assert (tmp_path / "s.csv").read_text() == "mine" and not (tmp_path / "s.json").exists()
    assert_user_error(run_inproc("sensitivity", "tiny", "--ratios", "0.5", "--out", str(tmp_path / "x.csv"),
                                 "-w", str(ws)), ".json")
    (tmp_path / "d.json").mkdir()
    assert_user_error(run_inproc("sensitivity", "tiny", "--ratios", "0.5", "--out", str(tmp_path / "d.json"),
                                 "--force", "-w", str(ws)), "is a folder")
    assert_user_error(run_inproc("sensitivity", "tiny", "--ratios", ",", "-w", str(ws)), "--ratios")


# --- 8. labels outside the model's classes -----------------------------------------------------------------------------

def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    path.write_bytes(buf.getvalue())
    return path


def test_bench_refuses_labels_outside_the_classes(tiny_bundle, tmp_path):
    from edgeprune.device.bench import BenchOptions, bench

    x = np.zeros((4, 16, 16, 3), np.uint8)
    for labels in ([0, 1, -1, 2], [0, 1, 2, 3]):
        data = _npz(tmp_path / "t.npz", x, np.asarray(labels, np.int64))
        row = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                                runs=1, warmup=0, data=str(data))).rows[0]
        assert "labels must be from 0 to 2" in row.error, row.error
    # a labels.txt naming another number of classes than the model has
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    (b / "labels.txt").write_text("a\nb\n")
    row = bench([b / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0, runs=1, warmup=0)).rows[0]
    assert "names 2 classes but the model has 3 outputs" in row.error
    assert_user_error(run_inproc("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--max-images", "-1"), "--max-images")


# --- 9. images of more than 8 bits -------------------------------------------------------------------------------------

def test_high_bit_depth_images_are_scaled_or_skipped(tmp_path):
    from edgeprune.data.decode import decode_image
    from edgeprune.data.inspect import inspect_folder

    ramp = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "g16.png")
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "f.tif")
    Image.fromarray((ramp * 1000).astype(np.float32)).save(tmp_path / "big.tif")
    Image.fromarray((ramp * 70000).astype(np.int32)).save(tmp_path / "i32.tif")
    for name in ("g16.png", "f.tif"):
        a, _ = decode_image(tmp_path / name, 32)
        assert 120 < a.mean() < 135 and (a == 255).mean() < 0.01, name  # a ramp stays a ramp, not 95 % white
    for name, why in (("big.tif", "float pixels outside"), ("i32.tif", "32-bit integer")):
        with pytest.raises(ValueError, match=why):
            decode_image(tmp_path / name, 32)
    data = write_class_folders(tmp_path / "d", per_class=3)
    shutil.copy(tmp_path / "big.tif", data / "a" / "big.tif")
    shutil.copy(tmp_path / "g16.png", data / "b" / "g16.png")
    ins = inspect_folder(data)
    assert "float pixels outside" in ins.bad["a/big.tif"] and "b/g16.png" not in ins.bad
    assert ins.counts["pool"]["b"] == 4


# --- 10. links out of the dataset ------------------------------------------------------------------------------------

def test_links_leaving_the_dataset_are_skipped_and_counted(tmp_path):
    from edgeprune.data.manifest import build_manifest

    data = write_class_folders(tmp_path / "d", per_class=12)
    outside = write_class_folders(tmp_path / "outside", classes=("z",), per_class=2)
    (data / "a" / "escape.jpg").symlink_to(outside / "z" / "000.jpg")
    (data / "a" / "inside.jpg").symlink_to(data / "b" / "000.jpg")  # a link inside the dataset is fine
    (data / "evil").symlink_to(outside / "z")  # a class folder that leads outside
    (data / "a" / "sub").symlink_to(outside / "z")  # a linked folder inside a class folder is not followed
    (data / "a" / "passwd.jpg").symlink_to("/etc/passwd")
    m = build_manifest(data, 42)
    used = {p for k in m.splits for p in m.paths(k)}
    assert "a/inside.jpg" in used
    assert not {"a/escape.jpg", "a/passwd.jpg"} & used and not any(p.startswith(("evil/", "a/sub/")) for p in used)
    assert m.classes == ["a", "b", "c"]
    for rel in ("a/escape.jpg", "a/passwd.jpg", "evil"):
        assert "outside the dataset" in m.skipped[rel]
    assert "not followed" in m.skipped["a/sub"]


# --- 11, 12, 15 and the smaller ones: option errors leave nothing behind ----------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["--widths", ""], "--widths"), (["--dense", "0"], "--dense"), (["--arch", "vgg"], "--arch"),
    (["--weights", "resnet"], "--weights"), (["--augment", "heavy"], "--augment"), (["--seed", "-1"], "--seed"),
    (["--seed", "4294967296"], "--seed"), (["--batch-size", "0"], "--batch-size"), (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"), (["--out", ""], "run name"), (["--out", "bad name!"], "run name"), (["--out", "exports"], "workspace's folder"),
])
def test_train_option_errors_write_nothing(tmp_path, tiny_data, args, needle):
    ws = tmp_path / "runs"
    proc = run_inproc("train", "--data", str(tiny_data), "--image-size", "16", "--epochs", "1", "-w", str(ws), *args)
    assert_user_error(proc, needle)
    assert not ws.exists() or not list(ws.iterdir())


def test_train_seed_that_is_not_an_integer_is_a_usage_error(tmp_path):
    proc = run_inproc("train", "--seed", "1e23", "-w", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "seed" in proc.stderr


def _staging(ws: Path, name: str = "r") -> Path:
    st = ws / f".{name}.partial"
    (st / "ckpt").mkdir(parents=True)
    opts = {"data": "demo", "image_size": 16, "arch": "cnn", "widths": [4, 4], "dense": 8, "weights": "none",
            "epochs": 2, "batch_size": 16, "lr": 1e-3, "patience": 5, "lr_patience": 3, "augment": "none", "seed": 1,
            "limit_per_class": None, "workspace": str(ws), "out": name, "force": False}
    (st / "train_options.json").write_text(json.dumps(opts))
    return st


@pytest.mark.parametrize("tamper, needle", [
    (lambda st: (st / "ckpt" / "state.json").write_text(json.dumps(
        {"epoch": 1, "history": {}, "plateau": {"patience": 5, "lr_patience": 3, "lr_factor": 0.5, "min_epochs": 0,
                                                "best": 1.0, "best_epoch": 0, "wait": 0, "lr_wait": 0},
         "stopped_early": False, "seconds": 1.0, "model_file": "../../../model.keras", "best_file": None})),
     "model_file"),
    (lambda st: (st / "ckpt" / "state.json").write_text('{"epoch": "one"}'), "state"),
    (lambda st: (st / "ckpt" / "state.json").write_text("[" * 40000), "checkpoint state"),
    (lambda st: (st / "train_options.json").write_text('{"data": 5}'), "data"),
    (lambda st: (st / "train_options.json").write_text(
        json.dumps({**json.loads((st / "train_options.json").read_text()), "evil": 1})), "unknown keys"),
    (lambda st: (st / "train_options.json").write_text(
        json.dumps({**json.loads((st / "train_options.json").read_text()), "widths": []})), "--widths"),
])
def test_resume_treats_the_staging_folder_as_untrusted(tmp_path, tamper, needle):
    ws = tmp_path / "runs"
    st = _staging(ws)
    tamper(st)
    before = tree_state(tmp_path)
    assert_user_error(run_inproc("train", "--resume", "--out", "r", "-w", str(ws)), needle)
    assert tree_state(tmp_path) == before


def test_resume_name_is_checked(tmp_path):
    ws = tmp_path / "runs"
    _staging(tmp_path, "escape")  # a staging folder outside the workspace
    before = tree_state(tmp_path)
    # a path is a path from the current folder (the repository here), never a name that climbs out of the workspace
    assert_user_error(run_inproc("train", "--resume", "--out", "x/../../escape", "-w", str(ws)), "no interrupted")
    assert_user_error(run_inproc("train", "--resume", "--out", "bad name!", "-w", str(ws)), "run name")
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("args, needle", [
    (["--batch-size", "0"], "--batch-size"), (["--batch-size", "-4"], "--batch-size"), (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"), (["--seed", "-1"], "--seed"), (["--out", ""], "run name"),
    (["--layers", ""], "--layers"),
])
def test_prune_option_errors(tiny_run, args, needle):
    run, ws = tiny_run
    before = sorted(p.name for p in ws.iterdir())
    assert_user_error(run_inproc("prune", "tiny", "--method", "weight", "--sparsity", "0.5", "-w", str(ws), *args),
                      needle)
    assert sorted(p.name for p in ws.iterdir()) == before


def test_filter_options_that_remove_nothing_are_refused(tiny_run, tmp_path):
    run, ws = tiny_run
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--ratio", "0.3", "--round-to", "1000",
                                 "--epochs", "1", "-w", str(ws)), "remove no filter")
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--ratio", "0.3", "--max-drop", "nan",
                                 "-w", str(ws)), "--max-drop")
    sens = {"kind": "edgeprune-sensitivity", "baseline_val_accuracy": 0.9, "ratios": [0.5],
            "widths": {"conv1": 4}, "layers": {"conv1": {"val_accuracy": [0.1]}}}  # "drop" is missing
    (tmp_path / "s.json").write_text(json.dumps(sens))
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--sensitivity", str(tmp_path / "s.json"),
                                 "-w", str(ws)), "layers")


def test_export_out_empty_is_an_error(tiny_run):
    run, ws = tiny_run
    assert_user_error(run_inproc("export", "tiny", "--out", "", "-w", str(ws)), "--out")


def test_test_classes_missing_from_train_are_an_error(tmp_path):
    root = tmp_path / "d"
    write_class_folders(root / "train", classes=("a", "b"), per_class=4)
    write_class_folders(root / "test", classes=("a", "b", "zebra"), per_class=2)
    assert_user_error(run_inproc("data", "inspect", str(root)), "zebra")


def test_markup_in_class_names_is_printed_as_it_is(tmp_path):
    write_class_folders(tmp_path / "d", classes=("[bold red]cat", "dog"), per_class=3)
    proc = run_inproc("data", "inspect", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    assert "[bold red]cat" in proc.stdout


# --- 13. a model file cannot make Keras import a module ----------------------------------------------------------------

def test_a_model_config_cannot_import_other_modules(tmp_path, monkeypatch):
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.training.models import build_cnn

    marker = tmp_path / "imported"
    probe = tmp_path / "mods"
    probe.mkdir()
    (probe / "evil_probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Dense: pass\n")
    monkeypatch.syspath_prepend(str(probe))
    m = build_cnn(3, 16, [4, 4], 8)
    m.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    cfg = json.loads(files["config.json"])
    for variant in ("layer", "initializer", "top"):
        c = json.loads(json.dumps(cfg))
        if variant == "layer":
            c["config"]["layers"][-1]["module"] = "evil_probe"
        elif variant == "initializer":
            c["config"]["layers"][-1]["config"]["kernel_initializer"]["module"] = "evil_probe"
        else:
            c["module"] = "evil_probe"
        with zipfile.ZipFile(tmp_path / f"{variant}.keras", "w") as z:
            for n, b in files.items():
                z.writestr(n, json.dumps(c) if n == "config.json" else b)
        with pytest.raises(UserError, match="evil_probe"):
            load_model(tmp_path / f"{variant}.keras")
    assert not marker.exists() and "evil_probe" not in sys.modules


# --- 14. malformed files give one line, not a traceback ----------------------------------------------------------------

def test_report_on_malformed_files(tiny_bundle, tmp_path):
    rows = {"not_objects": [1, "x"], "string_numbers": [{"model": str(tiny_bundle / "fp32.tflite"), "threads": "2",
                                                          "latency_ms": {"p50": "0.1", "p99": 1}}],
            "nan_sizes": [{"model": str(tiny_bundle / "fp32.tflite"), "latency_ms": {"p50": float("nan"), "p99": 1}}]}
    for name, results in rows.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"kind": "edgeprune-bench", "results": results}))
        proc = run_inproc("report", str(tiny_bundle), str(tmp_path / f"{name}.json"), "--out", str(tmp_path / name))
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "warning:" in proc.stderr and name + ".json" in proc.stderr
    (tmp_path / "sens.json").write_text(json.dumps({"kind": "edgeprune-sensitivity", "ratios": "all"}))
    proc = run_inproc("report", str(tiny_bundle), str(tmp_path / "sens.json"), "--out", str(tmp_path / "r2"))
    assert proc.returncode == 0 and "warning:" in proc.stderr and "sens.json" in proc.stderr
    (tmp_path / "file").write_text("x")
    assert_user_error(run_inproc("report", str(tiny_bundle), "--out", str(tmp_path / "file")), "is a file")
    # report.md is not replaced without --force
    assert_user_error(run_inproc("report", str(tiny_bundle), "--out", str(tmp_path / "r2")), "--force")
    assert_user_error(run_inproc("report", str(tiny_bundle), "--pick", "--max-p50-ms", "nan"), "--max-p50-ms")


def test_bench_checks_its_outputs_before_measuring(tiny_bundle, tmp_path):
    (tmp_path / "dir.json").mkdir()
    assert_user_error(run_inproc("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--json", str(tmp_path / "dir.json")),
                      "is a folder")
    (tmp_path / "old.json").write_text("{}")
    assert_user_error(run_inproc("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--json", str(tmp_path / "old.json")),
                      "--force")
    assert_user_error(run_inproc("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--json", str(tmp_path / "old.json"),
                                 "--append"), "not a bench results file")
    assert (tmp_path / "old.json").read_text() == "{}"


# --- the fuzz-style test: every file-reading command against truncated, wrong-typed and hostile files ----------------

def _variants(good: bytes) -> dict[str, bytes]:
    def retype(doc):
        if isinstance(doc, dict):
            return {k: ("x" if not isinstance(v, str) else 5) for k, v in doc.items()}
        return "x"

    def nan(doc):
        if isinstance(doc, dict):
            return {k: (float("nan") if isinstance(v, (int, float)) and not isinstance(v, bool) else nan(v))
                    for k, v in doc.items()}
        if isinstance(doc, list):
            return [nan(v) for v in doc]
        return doc

    def traversal(doc):
        if isinstance(doc, dict):
            return {k: traversal(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [traversal(v) for v in doc]
        return "../../../../etc/passwd" if isinstance(doc, str) else doc

    try:
        doc = json.loads(good)
    except ValueError:
        doc = None
    out = {
        "empty": b"", "truncated": good[: len(good) // 2], "null": b"null", "number": b"5", "list": b"[]",
        "object": b"{}", "nested": b"[" * 100000 + b"]" * 100000, "binary": b"\xff\xfe\x00garbage",
        "retyped": json.dumps(retype(doc)).encode(), "nan": json.dumps(nan(doc)).encode(),
        "traversal": json.dumps(traversal(doc)).encode(),
    }
    same = [k for k in ("retyped", "nan", "traversal") if doc is not None and json.loads(out[k]) == doc]
    return {k: v for k, v in out.items() if k not in same}  # a file with no number (or string) to spoil stays good


def _npz_variants(good: bytes, tmp: Path) -> dict[str, bytes]:
    obj = tmp / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled = io.BytesIO()
    with zipfile.ZipFile(pickled, "w") as z:
        z.write(obj, "x.npy")
        z.write(obj, "y.npy")
    return {"empty": b"", "truncated": good[: len(good) // 2], "pickled": pickled.getvalue(),
            "float_images": _npz_bytes(np.zeros((3, 16, 16, 3), np.float32), np.zeros(3, np.int64)),
            "bad_shape": _npz_bytes(np.zeros((3, 16, 3), np.uint8), np.zeros(3, np.int64)),
            "label_count": _npz_bytes(np.zeros((3, 16, 16, 3), np.uint8), np.zeros(5, np.int64))}


def _npz_bytes(x, y) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue()


# Every mutation that leaves no valid file must be refused by the reader with a one-line UserError; the others (an
# empty object, retyped, NaN or path-traversal values) are refused too unless the reader lists them as still valid.
MUST_FAIL = {"empty", "truncated", "null", "number", "list", "nested", "binary"}


def _one_line_refusal(where: str, fn) -> bool:
    """True when ``fn`` returned; False when it raised a one-line UserError; anything else fails the test."""
    try:
        fn()
    except UserError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "internal error" not in msg, (where, msg)
        return False
    return True


def _import_files(tmp: Path) -> tuple[Path, Path]:
    from edgeprune.workbench.training.models import build_cnn

    m = build_cnn(3, 16, [4, 4], 8)
    m.save(tmp / "import.keras")
    m.save(tmp / "import.h5")
    return tmp / "import.keras", tmp / "import.h5"


def _zip_variants(good: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    out = {"empty": b"", "truncated": good[: len(good) // 2], "binary": b"\xff\xfe\x00garbage"}
    for name, blob in _variants(files["config.json"]).items():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, b in files.items():
                z.writestr(n, blob if n == "config.json" else b)
        out[f"config {name}"] = buf.getvalue()
    return out


def test_fuzz_every_reader_in_process(tiny_run, tiny_bundle, tmp_path):
    """Every reader of a file a user hands in, against every mutation, in this process (no command, no child)."""
    from test_latency_table_bounds import tiny_table

    from edgeprune.device.testdata import load_npz
    from edgeprune.latency.model import LatencyModel
    from edgeprune.readers import (
        read_bench_file,
        read_export,
        read_latency_table,
        read_probe,
        read_run,
        read_sensitivity,
        read_sweep_cells,
    )
    from edgeprune.study.executors.transfer import pack_folder, relocate_json, unpack_folder
    from edgeprune.workbench.importing.foreign import load_foreign
    from edgeprune.workbench.modelio import check_keras_file

    run, _ = tiny_run
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    table = tiny_table(tmp_path / "table.json")
    probe = tmp_path / "probe"
    (probe / "files").mkdir(parents=True)
    (probe / "manifest.json").write_text(json.dumps(json.loads(table.read_text())["probe"]))
    keras_file, h5_file = _import_files(tmp_path)
    landed = tmp_path / "landed"
    landed.mkdir()
    shutil.copy(run.path / "run.json", landed / "run.json")

    def latency(p):
        LatencyModel(read_latency_table(p), "fp32")

    def land(blob):
        dest = tmp_path / "land"
        shutil.rmtree(dest, ignore_errors=True)
        unpack_folder(blob, dest)

    # (file, reader, the mutations after which it may still read) -- the file is restored after each
    readers = [
        (tmp_path / "run.json", read_run, set()),
        (tmp_path / "bench.json", read_bench_file, set()),
        (tmp_path / "sens.json", read_sensitivity, set()),
        (tmp_path / "results.jsonl", lambda p: _no_skips(read_sweep_cells(p)), set()),
        (bundle / "export.json", lambda p: read_export(p.parent), set()),
        (bundle / "model.json", lambda p: read_export(p.parent), {"object", "traversal"}),  # strings are labels only
        (bundle / "testset.npz", load_npz, {"bad_shape"}),  # the bench checks the shape against the model
        (run.path / "model.keras", check_keras_file, set()),
        (table, latency, set()),
        (probe / "manifest.json", lambda p: read_probe(p.parent), set()),
        (keras_file, load_foreign, set()),
        (h5_file, load_foreign, set()),
        (landed / "run.json", lambda p: relocate_json(p.parent, [("/x", "/y")]), set()),
        (tmp_path / "cell.tar", lambda p: land(p.read_bytes()), set()),
    ]
    shutil.copy(run.path / "run.json", tmp_path / "run.json")
    (tmp_path / "bench.json").write_text(json.dumps({"kind": "edgeprune-bench", "results": [
        {"model": str(bundle / "fp32.tflite"), "threads": 2, "latency_ms": {"p50": 0.1, "p99": 0.2}}]}))
    (tmp_path / "sens.json").write_text(json.dumps({
        "kind": "edgeprune-sensitivity", "criterion": "l1", "baseline_val_accuracy": 0.5, "ratios": [0.5],
        "widths": {"conv1": 4}, "layers": {"conv1": {"val_accuracy": [0.4], "drop": [0.1]}}}))
    (tmp_path / "results.jsonl").write_text(json.dumps({"kind": "edgeprune-sweep-cell", "cell": "dense",
                                                        "method": "none", "bundles": [str(bundle)]}) + "\n")
    (tmp_path / "cell.tar").write_bytes(pack_folder(landed))
    model_copy = tmp_path / "model.keras.orig"
    shutil.copy(run.path / "model.keras", model_copy)
    outcomes: dict[str, dict[str, bool]] = {}
    try:
        for target, read, may_pass in readers:
            good = target.read_bytes()
            assert _one_line_refusal(f"{target.name} good", lambda: read(target)), target
            if target.suffix == ".npz":
                variants = _npz_variants(good, tmp_path)
            elif target.suffix == ".keras":
                variants = _zip_variants(good)
            elif target.suffix in (".h5", ".tar"):  # a tar is padded to 10 kB: cut it inside its first file's data
                cut = 612 if target.suffix == ".tar" else len(good) // 2
                variants = {"empty": b"", "truncated": good[:cut], "binary": b"\xff\xfe\x00garbage"}
            else:
                variants = _variants(good)
            for name, blob in variants.items():
                target.write_bytes(blob)
                ok = _one_line_refusal(f"{target.name} {name}", lambda: read(target))
                outcomes.setdefault(str(target), {})[name] = ok
                kind = name.split()[-1]
                if kind in MUST_FAIL or kind not in may_pass:
                    assert not ok, (target.name, name, "was read as valid")
            target.write_bytes(good)
    finally:
        shutil.copy(model_copy, run.path / "model.keras")
    assert len(outcomes) == len(readers) and sum(len(v) for v in outcomes.values()) >= 120


def _no_skips(read):
    """A sweep's results are read line by line and a damaged line is passed over with a warning: for this test, a
    passed-over line counts as the refusal."""
    cells, skipped = read
    if skipped:
        raise UserError(skipped[0])
    return cells


def test_fuzz_every_file_reading_command(tiny_run, tiny_bundle, tmp_path):
    """Each command that reads a file a user hands in, against the mutations no reader can take (a file cut in half,
    binary bytes): the command's own outcome (a one-line error with exit code 2, the bench's error row, or the
    report's warning), and nothing outside its output touched. The readers meet every mutation in process (above)."""
    from test_latency_table_bounds import tiny_table

    ws, _ = private_run(tiny_run, tmp_path / "p")
    run_dir = ws / "tiny"
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    sens = tmp_path / "sens.json"
    sens.write_text(json.dumps({"kind": "edgeprune-sensitivity", "criterion": "l1", "baseline_val_accuracy": 0.5,
                                "ratios": [0.5], "widths": {"conv1": 4},
                                "layers": {"conv1": {"val_accuracy": [0.4], "drop": [0.1]}}}))
    bench_json = tmp_path / "bench.json"
    bench_json.write_text(json.dumps({"kind": "edgeprune-bench", "results": [
        {"model": str(bundle / "fp32.tflite"), "threads": 2, "latency_ms": {"p50": 0.1, "p99": 0.2}}]}))
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"kind": "edgeprune-sweep-cell", "cell": "dense", "method": "none",
                                   "bundles": [str(bundle)]}) + "\n")
    table = tiny_table(tmp_path / "table.json", {"conv1": 4, "conv2": 4, "conv3": 8, "conv4": 8, "fc1": 8})
    probe = tmp_path / "probe"
    (probe / "files").mkdir(parents=True)
    (probe / "manifest.json").write_text(json.dumps(json.loads(table.read_text())["probe"]))
    keras_file, _ = _import_files(tmp_path)
    data = tmp_path / "p" / "data"
    out = tmp_path / "out"
    # (file to spoil, command that reads it, expected outcome): 2 = one-line user error; "row" = bench error row;
    # "warn" = report reads the rest and warns about this file (it then has nothing to report: exit 2)
    cases = [
        (run_dir / "run.json", ["export", str(run_dir), "--out", str(out), "-w", str(ws)], 2),
        (run_dir / "run.json", ["prune", str(run_dir), "--method", "weight", "--sparsity", "0.5", "--out", "p",
                                "-w", str(ws)], 2),
        (run_dir / "split.json", ["export", str(run_dir), "--out", str(out), "-w", str(ws)], 2),
        (run_dir / "split.json", ["sensitivity", str(run_dir), "--out", str(out / "s.json"), "-w", str(ws)], 2),
        (run_dir / "model.keras", ["export", str(run_dir), "--out", str(out), "-w", str(ws)], 2),
        (run_dir / "model.keras", ["prune", str(run_dir), "--method", "weight", "--sparsity", "0.5", "--out", "p",
                                   "-w", str(ws)], 2),
        (sens, ["prune", str(run_dir), "--method", "filter", "--sensitivity", str(sens), "--out", "p", "-w", str(ws)], 2),
        (sens, ["report", str(sens), "--out", str(out)], "warn"),
        (bench_json, ["report", str(bench_json), "--out", str(out)], "warn"),
        (bench_json, ["bench", "--min-time", "0", str(bundle / "fp32.tflite"), "--json", str(bench_json), "--append",
                      "--runs", "1"], 2),
        (results, ["report", str(results), "--out", str(out)], "warn"),
        (bundle / "export.json", ["report", str(bundle), "--out", str(out)], "warn"),
        (bundle / "export.json", ["bench", "--min-time", "0", "--rounds", "1", str(bundle / "fp32.tflite"), "--runs",
                                  "1", "--warmup", "0"], "row"),
        (bundle / "model.json", ["report", str(bundle), "--out", str(out)], "warn"),
        (bundle / "labels.txt", ["bench", "--min-time", "0", "--rounds", "1", str(bundle / "int8.tflite"), "--runs",
                                 "1", "--warmup", "0"], "row"),
        (bundle / "testset.npz", ["bench", "--min-time", "0", "--rounds", "1", str(bundle / "int8.tflite"), "--runs",
                                  "1", "--warmup", "0"], "row"),
        (keras_file, ["import", str(keras_file), "--data", str(data), "-w", str(ws), "--out", "imp"], 2),
        (table, ["latency", "check", str(table)], 2),
        (table, ["prune", str(run_dir), "--method", "filter", "--target-ms", "1", "--latency-table", str(table),
                 "--out", "p", "-w", str(ws)], 2),
        (probe / "manifest.json", ["latency", "measure", str(probe), "--json", str(out / "t.json"), "--runs", "1",
                                   "--passes", "1"], 2),
    ]
    checked = 0
    for target, args, expect in cases:
        good = target.read_bytes()
        for name, blob in (("truncated", good[: len(good) // 2]), ("binary", b"\xff\xfe\x00garbage")):
            target.write_bytes(blob)
            before = tree_state(tmp_path)
            proc = run_inproc(*args)
            where = f"{target.name} {name}: {args[0]}"
            assert "Traceback" not in proc.stdout + proc.stderr and "internal error" not in proc.stderr, (where, proc.stderr)
            if expect == 2:
                assert_user_error(proc)
            elif expect == "row":
                assert proc.returncode == 1, (where, proc.returncode, proc.stderr)
                assert [l for l in proc.stdout.splitlines() if l.startswith(target.parent.name + "/")], (where, proc.stdout)
            else:
                assert proc.returncode in (0, 2) and "warning:" in proc.stderr, (where, proc.returncode, proc.stderr)
            after = tree_state(tmp_path)
            changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            # nothing outside the command's own output changed, and no half-written output is left
            assert not [k for k in changed if not k.startswith("out")], (where, changed)
            assert not [k for k in after if ".partial" in k or k.endswith(".tmp")], (where, after)
            if expect != "warn":
                assert not out.exists(), where
            shutil.rmtree(out, ignore_errors=True)
            checked += 1
        target.write_bytes(good)
    assert checked == 2 * len(cases)
