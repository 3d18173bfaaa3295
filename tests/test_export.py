"""`edgeprune export`: every format, sparse on and off, verification that rejects bad files, and user errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc

from edgeprune.errors import UserError
from edgeprune.formats import FORMATS
from edgeprune.workbench.export import bundle as ex
from edgeprune.workspace import Run


def _zeroed_run(tiny_run, tmp_path, sparsity=0.8) -> Run:
    """A copy of the tiny run with the smallest 80 % of each kernel set to zero (as a pruned model has)."""
    from edgeprune.workbench.modelio import load_model, save_model

    run, ws = tiny_run
    dst = ws / "zeroed"
    if not dst.exists():
        shutil.copytree(run.path, dst)
        m = load_model(dst / "model.keras")
        for layer in m.layers:
            if hasattr(layer, "kernel"):
                k = layer.kernel.numpy()
                k[np.abs(k) < np.quantile(np.abs(k), sparsity)] = 0
                layer.kernel.assign(k)
        save_model(m, dst / "model.keras")
    return Run(dst)


CONVERTER = [f for f in FORMATS if not FORMATS[f].quantizer]  # LiteRT's quantizer's formats: tests/test_quantizer.py


def test_every_format_sparse_on_and_off(tiny_run, tmp_path):
    run = _zeroed_run(tiny_run, tmp_path)
    res = ex.export(run, tiny_run[1], ex.ExportOptions(formats=CONVERTER, sparse="both", calib=16,
                                                     out=str(tmp_path / "b")))
    files = {r.file: r for r in res.rows}
    assert set(files) == {f"{f}{s}.tflite" for f in CONVERTER for s in ("", "-sparse")}
    # What edgeprune does, whichever way the runtime goes: a file that runs under XNNPACK (and agrees) is kept; one
    # that does not (LiteRT 2.3 fails to delegate sparse quantized files) is reported, removed and not kept.
    rejected = {name for name, r in files.items() if not r.runs_xnnpack}
    assert set(res.failed) == rejected
    for name in rejected:
        r = files[name]
        assert not r.kept and "XNNPACK on" in r.error and not (tmp_path / "b" / name).exists()
    for name, r in files.items():
        if name in rejected:
            continue
        assert (tmp_path / "b" / name).is_file() and r.kept and r.error is None
        assert r.runs_xnnpack and r.runs_reference
        assert r.gzip_bytes < r.bytes and r.naive_bound_bytes > r.entropy_floor_bytes > 0
    assert files["fp32.tflite"].agreement >= 0.995 and files["fp16.tflite"].agreement >= 0.995
    assert files["fp32-sparse.tflite"].agreement >= 0.995
    assert files["int8.tflite"].input["dtype"] == "uint8"
    assert files["fp32-sparse.tflite"].bytes < files["fp32.tflite"].bytes  # 80 % zeros stored sparse
    doc = json.loads((tmp_path / "b" / "export.json").read_text())
    for key in ("file", "format", "sparse", "bytes", "gzip_bytes", "accuracy", "agreement", "runs_xnnpack",
                "runs_reference", "error"):
        assert key in doc["files"][0]
    card = json.loads((tmp_path / "b" / "model.json").read_text())
    assert card["classes"] == ["a", "b", "c"] and card["measured_sparsity"] > 0.75
    assert set(card["files"]) == set(files) - rejected
    assert (tmp_path / "b" / "labels.txt").read_text().split() == ["a", "b", "c"]
    with np.load(tmp_path / "b" / "testset.npz", allow_pickle=False) as f:
        assert f["x"].dtype == np.uint8 and f["x"].shape[1:] == (16, 16, 3) and len(f["y"]) == doc["n_test"]


def test_sparse_auto_follows_measured_sparsity_and_falls_back(tiny_run, tmp_path):
    dense = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["fp32"], out=str(tmp_path / "d")))
    assert [r.file for r in dense.rows] == ["fp32.tflite"]
    sparse = ex.export(_zeroed_run(tiny_run, tmp_path), tiny_run[1],
                       ex.ExportOptions(formats=["fp32", "int8"], calib=16, out=str(tmp_path / "s")))
    rows = {r.file: r for r in sparse.rows}
    assert rows["fp32-sparse.tflite"].kept and "fp32.tflite" not in rows
    # what edgeprune does in either case, not what this runtime happens to do with sparse int8
    if rows["int8-sparse.tflite"].runs_xnnpack:  # the runtime delegates it: the sparse file is kept, alone
        assert rows["int8-sparse.tflite"].kept and "int8.tflite" not in rows
    else:  # it does not: reported, and the dense encoding written and kept instead
        assert not rows["int8-sparse.tflite"].kept and "dense encoding was written instead (int8.tflite)" in rows["int8-sparse.tflite"].note
        assert rows["int8.tflite"].kept
    assert not sparse.failed


def test_a_file_the_runtime_cannot_run_is_rejected(tiny_run, tmp_path, monkeypatch):
    real = ex.convert

    def broken(model, fmt, sparse, calib_x=None, io_type="uint8"):
        blob = bytearray(real(model, fmt, sparse, calib_x, io_type))
        return bytes(blob[: len(blob) // 2])  # a file cut in half: the runtime refuses it

    monkeypatch.setattr(ex, "convert", broken)
    res = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["fp32"], out=str(tmp_path / "b")))
    row = res.rows[0]
    assert res.failed == ["fp32.tflite"] and not row.kept and not row.runs_xnnpack
    assert "XNNPACK on" in row.error
    assert not (tmp_path / "b" / "fp32.tflite").exists()  # not left in the bundle as if it were good
    assert json.loads((tmp_path / "b" / "export.json").read_text())["files"][0]["kept"] is False


def test_agreement_threshold_rejects_a_wrong_fp32_file(tiny_run, tmp_path, monkeypatch):
    from edgeprune.workbench.modelio import load_model

    real = ex.convert
    # the run's model with its classifier negated: it ranks the classes in reverse, so its top class differs from the
    # model's on every image (an untrained model is not enough: it and a tiny model can both predict one class always)
    other = load_model(tiny_run[0].model)
    kernel, bias = other.layers[-1].get_weights()
    other.layers[-1].set_weights([-kernel, -bias])

    monkeypatch.setattr(ex, "convert", lambda model, fmt, *a, **k: real(other, fmt, *a, **k))
    res = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["fp32", "dynamic"], out=str(tmp_path / "b")))
    rows = {r.file: r for r in res.rows}
    assert rows["fp32.tflite"].agreement < 0.995 and "required 99.5%" in rows["fp32.tflite"].error
    assert "fp32.tflite" in res.failed and not (tmp_path / "b" / "fp32.tflite").exists()
    assert rows["dynamic.tflite"].kept  # dynamic and int8 report agreement; they are not held to 99.5 %
    assert rows["dynamic.tflite"].accuracy_change is not None


def test_export_user_errors(tiny_run, tmp_path):
    run, ws = tiny_run
    with pytest.raises(UserError, match="unknown format"):
        ex.export(run, ws, ex.ExportOptions(formats=["int4"], out=str(tmp_path / "x")))
    with pytest.raises(UserError, match="calibration"):
        ex.export(run, ws, ex.ExportOptions(formats=["int8"], calib=0, out=str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()
    (tmp_path / "exists").mkdir()
    assert_user_error(run_cli("export", str(run.path), "--out", str(tmp_path / "exists")), "already exists")
    fake = tmp_path / "fake"
    shutil.copytree(run.path, fake)
    (fake / "model.keras").write_bytes(b"not a zip at all")
    assert_user_error(run_inproc("export", str(fake), "--out", str(tmp_path / "y")), "not a Keras model")
    assert_user_error(run_inproc("export", str(tmp_path / "nope"), "--out", str(tmp_path / "y")), "run not found")
    assert not (tmp_path / "y").exists() and not list(tmp_path.glob(".y.partial*"))


def test_lambda_layers_are_refused(tmp_path):
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.tf import keras

    m = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(2)])
    m.save(tmp_path / "lam.keras")
    with pytest.raises(UserError, match="Lambda"):
        load_model(tmp_path / "lam.keras")


@pytest.mark.parametrize("io", ["int8", "float32"])
def test_int8_io_types_run_and_agree(tiny_run, tmp_path, io):
    from edgeprune.device.bench import BenchOptions, bench

    res = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["int8"], io=io, calib=16, out=str(tmp_path / io)))
    row = res.rows[0]
    assert row.kept and row.input["dtype"] == io
    if io == "int8":
        assert row.input["scale"] > 0  # raw pixels are quantized with the file's scale and zero point
    b = bench([tmp_path / io / "int8.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                            runs=3, warmup=0, xnnpack=False)).rows[0]
    assert b.error is None and b.xnnpack is False
    assert b.accuracy == pytest.approx(row.accuracy, abs=0.05)  # reference kernels, same images


def test_a_format_that_allows_no_sparse_encoding_is_written_dense(tiny_run, tmp_path, monkeypatch):
    import dataclasses

    from edgeprune import formats

    monkeypatch.setitem(formats.FORMATS, "fp16", dataclasses.replace(formats.FORMATS["fp16"], sparse_allowed=False))
    run = _zeroed_run(tiny_run, tmp_path)
    res = ex.export(run, tiny_run[1], ex.ExportOptions(formats=["fp16", "fp32"], sparse="both", out=str(tmp_path / "b")))
    assert sorted(r.file for r in res.rows) == ["fp16.tflite", "fp32-sparse.tflite", "fp32.tflite"]
    rows = {r.file: r for r in res.rows}
    assert rows["fp16.tflite"].sparse is False and rows["fp32-sparse.tflite"].sparse is True
    assert all(r.kept for r in res.rows)
    # the fp16 file is the dense encoding itself: byte for byte what a dense-only export writes, while the sparse
    # fp32 file really is encoded otherwise than the dense one
    dense = ex.export(run, tiny_run[1], ex.ExportOptions(formats=["fp16"], sparse="off", out=str(tmp_path / "d")))
    assert not dense.failed
    assert (tmp_path / "b" / "fp16.tflite").read_bytes() == (tmp_path / "d" / "fp16.tflite").read_bytes()
    assert (tmp_path / "b" / "fp32-sparse.tflite").read_bytes() != (tmp_path / "b" / "fp32.tflite").read_bytes()
