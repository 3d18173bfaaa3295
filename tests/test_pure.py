"""Fast tests of the pure pieces: early stopping, criteria values, mask entropy, input quantization, sweep-file
recovery, report de-duplication, coupled channel groups and the records' checks. No training here."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgeprune.device.measure import to_input
from edgeprune.device.runtime import TensorInfo
from edgeprune.errors import UserError
from edgeprune.readers import read_sweep_cells
from edgeprune.records import BenchRow, ExportRecord, RunRecord, SweepCell
from edgeprune.workbench.metrics.size_floor import mask_entropy_bytes
from edgeprune.workbench.pruning.filters.criteria import ChannelInfo, get


def test_plateau_waits_during_pruning_then_cuts_the_rate_and_stops():
    from edgeprune.workbench.training.fit import Plateau

    p = Plateau(patience=3, lr_patience=2, lr_factor=0.5, min_epochs=2)
    # inside the pruning schedule every epoch counts as the best so far, whatever its loss
    assert p.update(0, 1.0) == (True, False, False) and p.update(1, 5.0) == (True, False, False) and p.best == 5.0
    assert p.update(2, 4.0) == (True, False, False)  # better than the last schedule epoch
    assert p.update(3, 4.5) == (False, False, False)
    assert p.update(4, 4.5) == (False, True, False)  # lr cut after lr_patience epochs without improvement
    assert p.update(5, 4.5) == (False, False, True)  # stop after patience epochs
    q = Plateau(patience=0, lr_patience=0, lr_factor=0.5)
    assert all(q.update(e, 1.0 + e) == ((e == 0), False, False) for e in range(10))  # 0 switches both off


def test_criteria_values():
    k = np.zeros((1, 1, 2, 3), np.float32)
    k[..., 0] = [3, 4]  # l1 7, l2 5
    k[..., 1] = [-6, 0]  # l1 6, l2 6
    k[..., 2] = [1, 1]  # l1 2, l2 sqrt 2
    info = ChannelInfo(k, np.array([0.1, -2.0, 0.5]), np.random.default_rng(0))
    np.testing.assert_allclose(get("l1").scores(info), [7, 6, 2])
    np.testing.assert_allclose(get("l2").scores(info), [5, 6, math.sqrt(2)])
    np.testing.assert_allclose(get("bn").scores(info), [0.1, 2.0, 0.5])  # |gamma|
    np.testing.assert_allclose(get("bn").scores(ChannelInfo(k, None, info.rng)), [7, 6, 2])  # no BN: l1
    with pytest.raises(UserError, match="criterion"):
        get("hessian")


def test_mask_entropy():
    assert mask_entropy_bytes(0, 0) == 0 and mask_entropy_bytes(100, 100) == 0 and mask_entropy_bytes(100, 0) == 0
    assert mask_entropy_bytes(800, 400) == pytest.approx(100.0)  # one bit per weight at p = 0.5
    h = -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9))
    assert mask_entropy_bytes(8000, 800) == pytest.approx(8000 * h / 8)


def test_input_quantization_maths():
    px = np.array([[0, 128, 255]], np.uint8).reshape(1, 1, 3, 1).repeat(3, axis=3)
    f = to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.float32)))
    assert f.dtype == np.float32 and f.max() == 255
    u = to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.uint8), 1.0, 0))
    assert u.tolist() == px.tolist()
    q = to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.int8), 1.0, -128))  # x / 1 - 128
    assert q[0, 0, :, 0].tolist() == [-128, 0, 127]
    h = to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.uint8), 2.0, 10))  # round(x / 2 + 10), clipped
    assert h[0, 0, :, 0].tolist() == [10, 74, 138]
    raw = to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.int8)))  # scale 0: raw pixels shifted into int8
    assert raw[0, 0, :, 0].tolist() == [-128, 0, 127]
    with pytest.raises(UserError, match="not supported"):
        to_input(px, TensorInfo([1, 1, 3, 3], np.dtype(np.int16), 1.0, 0))


def test_a_cut_results_line_is_passed_over(tmp_path):
    good = {"kind": "edgeprune-sweep-cell", "cell": "weight-50", "method": "weight", "value": 0.5, "test_accuracy": 0.7}
    retry = {**good, "test_accuracy": 0.72}
    text = json.dumps(good) + "\n" + json.dumps(retry) + "\n" + json.dumps(good)[:25]  # killed mid-write
    (tmp_path / "results.jsonl").write_text(text)
    cells, skipped = read_sweep_cells(tmp_path / "results.jsonl")
    assert list(cells) == ["weight-50"] and cells["weight-50"].test_accuracy == 0.72  # the last whole record counts
    assert len(skipped) == 1 and "line 3" in skipped[0]


def _bundle(folder, method="none", acc=0.5):
    folder.mkdir(parents=True)
    (folder / "export.json").write_text(json.dumps(ExportRecord(run=folder.name, files=[]).to_dict() | {
        "files": [{"file": "fp32.tflite", "format": "fp32", "kept": True, "bytes": 100, "gzip_bytes": 90,
                   "accuracy": acc}]}))
    (folder / "model.json").write_text(json.dumps({"source_run": {"name": folder.name, "method": method}}))


def test_report_counts_a_bundle_named_twice_once(tmp_path):
    from edgeprune.study.entries import load_inputs

    _bundle(tmp_path / "exports" / "dense")
    entries, warnings, _ = load_inputs([tmp_path / "exports", tmp_path / "exports" / "dense"])
    assert not warnings and [e.key for e in entries] == ["dense/fp32.tflite"]


def test_report_of_a_bench_file_alone(tmp_path):
    """`edgeprune report pi.json`: the rows' bundles are found from their paths; rows of absent bundles still show."""
    from edgeprune.study.entries import load_inputs

    _bundle(tmp_path / "b" / "dense", acc=0.61)
    rows = [{"model": str(tmp_path / "b" / "dense" / "fp32.tflite"), "threads": 4, "accuracy": 0.6,
             "latency_ms": {"p50": 2.0, "p99": 3.0}, "device": {"pi_model": "Raspberry Pi 5"}},
            {"model": "/home/pi/elsewhere/int8.tflite", "format": "int8", "threads": 4, "accuracy": 0.59,
             "gzip_bytes": 50, "latency_ms": {"p50": 0.5, "p99": 0.7}, "device": {"pi_model": "Raspberry Pi 5"}}]
    (tmp_path / "pi.json").write_text(json.dumps({"kind": "edgeprune-bench", "results": rows}))
    entries, warnings, _ = load_inputs([tmp_path / "pi.json"])
    by = {e.key: e for e in entries}
    assert by["dense/fp32.tflite"].accuracy == 0.61 and by["dense/fp32.tflite"].method == "none"  # from the bundle
    assert by["dense/fp32.tflite"].latency["Raspberry Pi 5, 4 thr"]["p50"] == 2.0
    alone = by["elsewhere/int8.tflite"]
    assert alone.method == "-" and alone.accuracy == 0.59 and alone.latency["Raspberry Pi 5, 4 thr"]["p50"] == 0.5
    assert len(warnings) == 1 and "not on this machine" in warnings[0]


def test_chain_groups_of_a_valid_model():
    from edgeprune.workbench.graph import groups
    from edgeprune.workbench.training.models import build_cnn

    m = build_cnn(3, 16, [4, 4, 8, 8], 8)
    gs = {g.producer: g for g in groups(m)}
    assert list(gs) == ["conv1", "conv2", "conv3", "conv4", "fc1"]
    assert gs["conv1"].bn == "bn1" and gs["conv1"].consumer == "conv2" and gs["conv1"].flatten_hw is None
    assert gs["conv4"].consumer == "fc1" and gs["conv4"].flatten_hw == (4, 4)  # 16 px, two poolings
    assert gs["fc1"].bn == "bn_fc1" and gs["fc1"].consumer == "classifier"


def test_records_check_types_versions_and_keep_unknown_keys():
    r = RunRecord.from_dict({"kind": "prune", "image_size": 32, "parent": {"name": "base"}, "mine": [1]}, "run.json")
    assert r.parent.name == "base" and r.to_dict()["mine"] == [1] and r.to_dict()["version"] == RunRecord.VERSION
    assert RunRecord.from_dict(r.to_dict(), "again") == r  # a round trip loses nothing
    for bad, needle in (({"kind": "train"}, "image_size"), ({"kind": "x", "image_size": 32}, "kind"),
                        ({"kind": "train", "image_size": 32, "version": 99}, "newer edgeprune"),
                        ({"kind": "train", "image_size": 32, "test_accuracy": 1.5}, "test_accuracy"),
                        ({"kind": "train", "image_size": 32, "parent": {"path": "p"}}, "name")):
        with pytest.raises(UserError, match=needle):
            RunRecord.from_dict(bad, "run.json")
    row = BenchRow.from_dict({"model": "m.tflite", "latency_ms": {"p50": 1.0, "p99": 2.0}, "temperature_c_after": 85.0,
                              "throttled": "0x50005"}, "bench")
    assert row.p50 == 1.0 and len(row.warnings()) == 2  # heat and throttling are said, not hidden
    cell = SweepCell.from_dict({"kind": "edgeprune-sweep-cell", "cell": "c", "method": "weight",
                                "bench": [{"model": "a/int8.tflite", "format": "int8", "latency_ms": {"p50": 1, "p99": 1}},
                                          {"model": "a/fp32.tflite", "format": "fp32", "latency_ms": {"p50": 3, "p99": 4}}]},
                               "results.jsonl")
    assert cell.p50("fp32") == 3.0 and cell.p50("fp16") is None


def test_files_written_by_0_1_0_still_read():
    """Files written by edgeprune 0.1.0 (no "version" key): the first study's bench and sensitivity results."""
    from pathlib import Path

    from edgeprune.readers import read_bench_file, read_sensitivity

    results = Path(__file__).resolve().parent / "fixtures" / "edgeprune-0.1.0"
    bench = read_bench_file(results / "bench.json")
    assert len(bench.results) > 20 and all(r.p50 for r in bench.results if not r.error)
    assert bench.to_dict()["results"][0]["model"] == json.loads((results / "bench.json").read_text())["results"][0]["model"]
    sens = read_sensitivity(results / "sensitivity.json")
    assert sens.layers and len(next(iter(sens.layers.values())).drop) == len(sens.ratios)
    old_run = {"name": "b", "finished": "2026-11-01T10:00:00+0000", "kind": "train", "arch": "cnn", "image_size": 32,
               "widths": [32, 32], "dense": 256, "data": {"source": "x"}, "val_accuracy": 0.7, "test_accuracy": 0.74,
               "macs": 10, "epochs_run": 15, "best_epoch": 12, "stopped_early": False, "history": {"loss": [1.0]},
               "seconds": 300.5, "bn_recalibration": {"layers": 7}, "options": {"augment": "light"}, "resumed": False,
               "params": 5, "nonzero_params": 5, "split_hash": "abc", "classes": ["a", "b"], "versions": {}}
    r = RunRecord.from_dict(old_run, "run.json")
    assert r.method == "none" and r.options["augment"] == "light" and not r.extra


def test_bootstrap_intervals_over_rounds():
    from edgeprune.device.intervals import bootstrap_ci, paired_ratios, resolved

    assert bootstrap_ci([2.0]) == (2.0, 2.0) and bootstrap_ci([3.0] * 7) == (3.0, 3.0)
    lo, hi = bootstrap_ci([1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 30.0])  # one burst of noise barely moves a median
    assert 0.9 <= lo <= 1.0 <= hi <= 1.1
    assert paired_ratios([2.0, 4.0, 0.0], [1.0, 2.0, 1.0]) == [2.0, 2.0]  # a missing round is skipped
    assert resolved((1.02, 1.10)) and resolved((0.8, 0.99)) and not resolved((0.97, 1.03))


def test_size_floors_of_known_weights():
    """The naive bound and the entropy floor on arrays whose answer is known by hand."""
    from edgeprune.workbench.metrics.size_floor import mask_entropy_bytes, order0_entropy_bits, stored_values

    k = np.zeros((4, 4), np.float32)
    k[0] = [1, -1, 1, -1]  # 4 nonzero of 16, two distinct values of equal frequency
    assert order0_entropy_bits(stored_values(k, "fp32")) == pytest.approx(4.0)  # 1 bit each
    assert order0_entropy_bits(stored_values(k, "int8")) == pytest.approx(4.0)
    assert order0_entropy_bits(np.array([7, 7, 7], np.int8)) == 0.0  # one value: nothing to say
    floor = mask_entropy_bytes(16, 4) + 4.0 / 8
    naive = 4 * 4 + mask_entropy_bytes(16, 4)  # fp32: 4 bytes per nonzero weight
    assert floor < naive and floor == pytest.approx(16 * (-(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))) / 8 + 0.5)
    q = stored_values(np.array([[0.5, 0.0], [1.0, -2.0]], np.float32), "int8")  # per column: /max*127
    assert sorted(q.tolist()) == [-127, 64, 127]


def test_size_floors_of_a_model():
    from edgeprune.workbench.metrics.size_floor import floor_bytes
    from edgeprune.workbench.training.models import build_cnn

    m = build_cnn(3, 16, [4, 4], 8)
    for layer in m.layers:
        if hasattr(layer, "kernel"):
            k = layer.kernel.numpy()
            k[...] = np.where(np.arange(k.size).reshape(k.shape) % 2 == 0, 0.5, 0.0)  # half zeros, one value
            layer.kernel.assign(k)
    f = floor_bytes(m, "fp32")
    assert f["nonzero_weights"] < f["weights"]
    assert f["naive_bound_bytes"] >= 4 * (f["nonzero_weights"] - 100)  # every nonzero at 4 bytes (biases aside)
    assert f["entropy_floor_bytes"] < f["naive_bound_bytes"] / 8  # one repeated value costs next to nothing


def test_an_export_row_of_0_1_0_reads_its_floor_as_the_naive_bound():
    row = {"file": "fp32.tflite", "format": "fp32", "kept": True, "floor_bytes": 1234, "gzip_over_floor": 0.9}
    exp = ExportRecord.from_dict({"kind": "edgeprune-export", "version": 1, "files": [row]}, "export.json")
    r = exp.files[0]
    assert r.naive_bound_bytes == 1234 and r.entropy_floor_bytes is None
    assert "floor_bytes" not in r.to_dict() and r.to_dict()["naive_bound_bytes"] == 1234
