"""Hostile inputs, second round (issue 27, items 6 and 7): each a one-line error (exit code 2) before any work, or
handled as the README promises. Every file is built here, tiny; the tests that need a trained run copy the session's
tiny run (conftest) and tamper with the copy."""
from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, assert_user_error, private_run, rewrite_manifest, run_inproc

from edgeprune.errors import UserError


def _bench(path: Path, p50: float, model: str = "elsewhere/fp32.tflite", **row) -> Path:
    r = {"model": model, "name": model, "format": "fp32", "threads": 1, "accuracy": 0.5, "bytes": 4000,
         "gzip_bytes": 2000, "latency_ms": {"p50": p50, "p99": p50}, "device": {"machine": "x86_64"}, **row}
    path.write_text(json.dumps({"kind": "edgeprune-bench", "version": 2, "results": [r]}))
    return path


# --- report of a bench file whose latencies no axis can show ------------------------------------------------------

@pytest.mark.parametrize("row", [{"latency_ms": {"p50": 1e300, "p99": 1e300}},
                                 {"latency_ms": {"p50": 1e12, "p99": 1e12}},  # a feedback row of 1e12 ms
                                 {"p50_rounds": [1.0, 1e300]}])
def test_bench_latencies_are_bounded_when_read(tmp_path, row):
    from edgeprune.readers import read_bench_file

    f = _bench(tmp_path / "b.json", 1.0, **row)
    with pytest.raises(UserError, match="must be from") as exc:
        read_bench_file(f)
    assert "\n" not in str(exc.value)


def test_report_of_a_bench_file_with_p50_1e300_is_one_line(tmp_path):
    # was: matplotlib's "Axis limits cannot be NaN or Inf", an internal error
    f = _bench(tmp_path / "b.json", 1e300)
    proc = run_inproc("report", str(f), "--out", str(tmp_path / "rep"))
    assert_user_error(proc, "no results to report", "p50")
    assert not (tmp_path / "rep" / "report.md").exists()


# --- report's --out follows the output rule: never the home folder ------------------------------------------------

def test_report_never_writes_into_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    f = _bench(tmp_path / "b.json", 1.0)
    assert_user_error(run_inproc("report", str(f), "--out", str(home), "--force"), "home folder")
    assert list(home.iterdir()) == []
    proc = run_inproc("report", str(f), "--out", str(home / "rep"))  # a folder inside it is an ordinary output
    assert proc.returncode == 0, proc.stderr
    assert (home / "rep" / "report.md").is_file()


# --- a sweep results file without its bundles says which are missing ----------------------------------------------

def test_report_names_the_bundles_a_sweep_file_lacks(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    cell = {"kind": "edgeprune-sweep-cell", "version": 2, "cell": "weight-50", "method": "weight", "value": 0.5,
            "bundles": [str(sweep / "exports" / "weight-50")]}
    (sweep / "results.jsonl").write_text(json.dumps(cell) + "\n")
    proc = run_inproc("report", str(sweep / "results.jsonl"), "--out", str(tmp_path / "rep"))
    assert_user_error(proc, "no results to report", "weight-50")
    assert "weight-50" in proc.stderr.splitlines()[0] and proc.stderr.startswith("warning:")


# --- options bounded before anything runs -------------------------------------------------------------------------

def test_bench_threads_are_bounded(tmp_path):
    from edgeprune.device.bench import BenchOptions

    with pytest.raises(UserError, match="1 to 256"):
        BenchOptions(threads=[4096]).check()
    BenchOptions(threads=[256]).check()
    f = tmp_path / "m.tflite"
    f.write_bytes(b"TFL3" * 8)
    assert_user_error(run_inproc("bench", str(f), "--threads", "4096"), "--threads")


def test_data_inspect_refuses_a_negative_show(tmp_path):
    from conftest import write_class_folders

    data = write_class_folders(tmp_path / "d", per_class=2, size=8)
    (data / "a" / "bad.jpg").write_bytes(b"not an image")
    assert_user_error(run_inproc("data", "inspect", str(data), "--show", "-1"), "--show")
    proc = run_inproc("data", "inspect", str(data), "--show", "1")
    assert proc.returncode == 0 and "bad.jpg" in proc.stdout


def test_a_workspace_that_is_a_file_is_refused(tmp_path):
    from edgeprune.workspace import output_folder, run_folder

    ws = tmp_path / "ws"
    ws.write_text("not a folder")
    with pytest.raises(UserError, match="is a file"):
        run_folder(ws, None, "r")
    with pytest.raises(UserError, match="is a file"):
        output_folder(ws, "report", None, "report")


@pytest.mark.slow  # TensorFlow is imported by train, though nothing is trained
def test_train_into_a_workspace_that_is_a_file(tmp_path, tiny_data):
    ws = tmp_path / "ws"
    ws.write_text("not a folder")
    assert_user_error(run_inproc("train", "--data", str(tiny_data), "-w", str(ws), *TINY_MODEL), "is a file", "-w")
    assert ws.read_text() == "not a folder"


# --- the decode cache is read through the bounded .npz reader -----------------------------------------------------

def _manifest(tmp_path):
    from conftest import write_class_folders

    from edgeprune.data.manifest import build_manifest

    data = write_class_folders(tmp_path / "d", per_class=10, size=8)
    return build_manifest(data, 1)


def test_decode_cache_goes_through_the_bounded_reader(tmp_path, monkeypatch):
    from edgeprune.data import arrays

    m = _manifest(tmp_path)
    cache = tmp_path / "cache"
    first = arrays.load_split_arrays(m, 8, cache_dir=cache)
    path = arrays.cache_path(cache, m, 8)

    def no_plain_load(*a, **k):
        raise AssertionError("np.load on the decode cache")

    monkeypatch.setattr(np, "load", no_plain_load)
    again = arrays._cached(path, m, 8)  # a whole cache file is read back without np.load
    assert again is not None and np.array_equal(again["train"].x, first["train"].x)
    # a cache file whose array is larger than these images can be is refused before it is read, and rebuilt
    buf = io.BytesIO()
    flat = {f"{k}_{v}": getattr(first[k], v) for k in first for v in "xy"}
    flat["train_x"] = np.zeros((len(first["train"].x) + 2000, 8, 8, 3), np.uint8)
    np.savez(buf, **flat)
    path.write_bytes(buf.getvalue())
    with pytest.raises(UserError, match="refused before"):
        arrays.load_npz_arrays(path, ("train_x",), max_array=first["train"].x.nbytes + 1024)
    assert arrays._cached(path, m, 8) is None


# --- sweep: a results file that is not a text file is refused before the first cell -------------------------------

@pytest.mark.parametrize("kind", ["binary", "folder"])
def test_sweep_refuses_a_results_file_it_cannot_append_to(tiny_run, tmp_path, kind):
    run, _ = tiny_run
    ws = tmp_path / "ws"
    out = tmp_path / "sw"
    out.mkdir()
    if kind == "folder":
        (out / "results.jsonl").mkdir()
    else:
        (out / "results.jsonl").write_bytes(bytes(range(256)) * 4)
    proc = run_inproc("sweep", str(run.path), "--method", "weight", "--values", "0.5", "--formats", "fp32",
                      "--epochs", "1", "-w", str(ws), "--out", str(out))
    assert_user_error(proc, "results.jsonl")
    assert not ws.exists() and sorted(p.name for p in out.iterdir()) == ["results.jsonl"]  # no cell was computed


# --- a run folder that disagrees with itself ----------------------------------------------------------------------

def test_run_json_image_size_other_than_the_models_input(tiny_run, tmp_path):
    ws, _ = private_run(tiny_run, tmp_path)
    f = ws / "tiny" / "run.json"
    d = json.loads(f.read_text())
    d["image_size"] = 24  # the model takes 16 px
    f.write_text(json.dumps(d))
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(tmp_path / "b")), "image_size 24", "16x16")
    assert not (tmp_path / "b").exists()


def test_an_empty_test_split_is_refused_before_any_work(tiny_run, tmp_path):
    ws, _ = private_run(tiny_run, tmp_path)
    rewrite_manifest(ws / "tiny" / "split.json", lambda d: d["splits"].update(test=[]))
    assert_user_error(run_inproc("export", str(ws / "tiny"), "--out", str(tmp_path / "b")), "test split is empty")
    assert not (tmp_path / "b").exists()


def test_prune_of_a_run_whose_weights_are_nan(tiny_run, tmp_path):
    import h5py

    ws, _ = private_run(tiny_run, tmp_path)
    model = ws / "tiny" / "model.keras"
    with zipfile.ZipFile(model) as z:
        files = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(files["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        kernels = []
        f.visititems(lambda n, o: kernels.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 4 else None)
        f[kernels[0]][...] = np.nan
    files["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(model, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    assert_user_error(run_inproc("prune", str(ws / "tiny"), "--method", "weight", "--sparsity", "0.5", "--epochs", "1",
                                 "-w", str(ws)), "non-finite")


def test_a_model_card_pruning_of_the_wrong_type_is_one_line(tiny_bundle, tmp_path):
    from edgeprune.readers import read_export

    for key, bad in (("latency_budget", {"latency_budget": "abc"}),
                     ("filters_kept", {"layers": [{"layer": "c", "filters_before": 4, "filters_kept": "x"}]})):
        b = tmp_path / key
        shutil.copytree(tiny_bundle, b)
        card = json.loads((b / "model.json").read_text())
        card.setdefault("source_run", {})["pruning"] = {"filter": bad}
        (b / "model.json").write_text(json.dumps(card))
        with pytest.raises(UserError, match=key) as exc:
            read_export(b)
        assert "\n" not in str(exc.value)


# --- latency probe and measure ------------------------------------------------------------------------------------

def test_latency_probe_checks_its_output_before_converting(tiny_run, tmp_path, monkeypatch):
    from edgeprune.options.probe import ProbeOptions
    from edgeprune.workbench import latency_probe

    def no_conversion(*a, **k):
        raise AssertionError("converted before the output was checked")

    monkeypatch.setattr(latency_probe, "convert", no_conversion)
    run, ws = tiny_run
    out = tmp_path / "p"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="--force"):
        latency_probe.probe(run, ws, ProbeOptions(out=str(out)))
    with pytest.raises(UserError, match="not a latency probe"):
        latency_probe.probe(run, ws, ProbeOptions(out=str(out), force=True))
    assert (out / "mine.txt").read_text() == "keep"


def test_latency_measure_refuses_a_probe_whose_files_folder_is_a_link(tmp_path):
    from test_latency_table_bounds import tiny_table

    from edgeprune.device.latency_table import MeasureOptions, measure_probe

    table = tiny_table(tmp_path / "table.json")
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "manifest.json").write_text(json.dumps(json.loads(table.read_text())["probe"]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (probe / "files").symlink_to(elsewhere)
    out = tmp_path / "t.json"
    with pytest.raises(UserError, match="link"):
        measure_probe(probe, out, MeasureOptions(threads=1))
    assert not out.exists()


# --- latency feedback: a row far from the table, or a card whose widths are not widths ----------------------------

def test_feedback_rows_far_from_the_table_and_bad_card_widths_are_named(tiny_bundle, tmp_path):
    from types import SimpleNamespace

    from edgeprune.latency.feedback import feedback_points

    device = {"cpu": "synthetic"}
    lat = SimpleNamespace(widths={"c1": 4, "c2": 8}, predict=lambda w: 2.0,
                          table=SimpleNamespace(threads=2, device=device, probe=None))
    ws = tmp_path / "ws"

    def case(p50: float, widths) -> list:
        b = ws / "exports" / "first"
        shutil.rmtree(b, ignore_errors=True)
        shutil.copytree(tiny_bundle, b)
        card = json.loads((b / "model.json").read_text())
        card["source_run"]["pruning"] = {"filter": {"latency_budget": {"widths": widths}}}
        (b / "model.json").write_text(json.dumps(card))
        bench = _bench(tmp_path / "b.json", p50, model="/pi/first/fp32.tflite", threads=2, device=device)
        return feedback_points([str(bench)], lat, "fp32", ws)[0]

    assert [p.factor for p in case(2.5, {"c1": 4, "c2": 4})] == [1.25]
    with pytest.raises(UserError, match=r"measured 1e\+06 ms where the table predicts 2 ms") as exc:
        case(1e6, {"c1": 4, "c2": 4})  # would have asked the table for target / 500000
    assert "\n" not in str(exc.value)
    for bad in ("abc", {"c1": "x", "c2": 4}):
        with pytest.raises(UserError, match="no measured file of this model"):
            case(2.5, bad)
