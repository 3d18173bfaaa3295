"""Sweep (resumable, failures recorded) and report (tables, plots, --pick, bad inputs)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc

from edgeprune.study.entries import Entry, load_inputs
from edgeprune.study.report import pareto, pick, write_report


def test_sweep_resumes_and_records_failures(tiny_run, tmp_path, monkeypatch):
    from edgeprune.study import cells
    from edgeprune.study import sweep as sw

    run, ws = tiny_run
    o = sw.SweepOptions(methods=["weight", "filter"], values=[0.5], formats=["fp32"], epochs=1, batch_size=16,
                        bench=True, bench_runs=5, control=True, out=str(tmp_path / "sw"))
    real = cells.run_cell  # what the local executor calls for each cell

    def flaky(cell, *a, **k):
        if cell.key == "filter-50":
            raise RuntimeError("boom")
        return real(cell, *a, **k)

    monkeypatch.setattr(cells, "run_cell", flaky)
    folder, recs = sw.sweep(run, ws, o)
    by = {r.cell: r for r in recs}
    assert set(by) == {"dense", "control-ft1", "weight-50", "filter-50"}
    assert "boom" in by["filter-50"].error and by["weight-50"].error is None
    assert by["weight-50"].sparsity >= 0.49 and by["weight-50"].bench[0].latency_ms.p50 > 0
    assert by["weight-50"].p50("fp32") == by["weight-50"].bench[0].latency_ms.p50
    assert by["dense"].epochs == 0 and by["control-ft1"].epochs == 1
    # a second run skips the done cells and retries the failed one
    calls = []
    monkeypatch.setattr(cells, "run_cell", lambda cell, *a, **k: calls.append(cell.key) or real(cell, *a, **k))
    folder, recs = sw.sweep(run, ws, o)
    assert calls == ["filter-50"]
    lines = [json.loads(l) for l in (folder / "results.jsonl").read_text().splitlines()]
    assert [l["cell"] for l in lines].count("filter-50") == 2 and lines[-1].get("error") is None
    assert (folder / "results.csv").read_text().startswith("cell,method")
    # the report reads the sweep: dense reference, compression, speed-up on the same device, plots
    entries, warnings, _ = load_inputs([folder / "results.jsonl"])
    assert not warnings and {e.bundle for e in entries} == {"dense", "control-ft1", "weight-50", "filter-50"}
    control = by["control-ft1"].test_accuracy
    assert all(e.control_test_accuracy == control for e in entries if e.bundle in ("weight-50", "filter-50"))
    assert next(e for e in entries if e.bundle == "dense").macs > 0
    rep = write_report(entries, tmp_path / "rep", warnings)
    text = rep["report"].read_text()
    assert "| dense |" in text and "x smaller" in text and "speed-up" in text
    assert {p.name for p in rep["plots"]} == {"accuracy_vs_gzip.png", "accuracy_vs_latency.png"}
    filt = next(r for r in rep["rows"] if r[0] == "filter-50")
    assert float(filt[rep["columns"].index("x smaller (gzip, same format)")].rstrip("x")) > 1.5


def _e(name, acc, gz, p50=None, method="weight"):
    e = Entry(bundle=name, file="fp32.tflite", format="fp32", sparse=False, bytes=gz * 2, gzip_bytes=gz, naive_bound_bytes=gz,
              accuracy=acc, method=method)
    if p50 is not None:
        e.latency["cpu, 2 thr"] = {"p50": p50, "p99": p50, "threads": 2}
    return e


def test_pareto_and_pick():
    pts = [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.9)]
    assert sorted(pareto(pts)) == [0, 1, 3]
    es = [_e("a", 0.70, 500_000, 2.0), _e("b", 0.80, 3_000_000, 1.0), _e("c", 0.75, 900_000, 6.0)]
    assert pick(es, 1, None, None).entry.bundle == "c"
    assert pick(es, 1, 5, None).entry.bundle == "a"
    none = pick(es, 0.1, None, None)
    assert none.entry is None and "--max-gzip-mb binds" in none.message
    none = pick(es, None, 0.5, None)
    assert none.entry is None and "--max-p50-ms binds" in none.message
    assert "no measurements" in pick(es, None, 5, "raspberry").message


def test_report_cli_bad_and_empty_inputs(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "broken.json").write_text("{not json")
    proc = run_cli("report", str(tmp_path / "other.json"), str(tmp_path / "broken.json"), "--out", str(tmp_path / "r"))
    assert_user_error(proc, "no results to report")
    assert "other.json" in proc.stderr and "broken.json" in proc.stderr  # each bad file named, one line each
    assert not (tmp_path / "r" / "report.md").exists()
    assert_user_error(run_cli("report"), "name the results")


def test_report_reads_a_bench_file_from_another_device(tiny_bundle, tmp_path):
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--runs", "5", "--rounds", "1", "--json",
                   str(tmp_path / "x86.json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "x86.json").read_text())
    for r in doc["results"]:  # as if brought back from a Pi that had the bundle copied to ~/bundles/tiny
        r["model"] = "/home/pi/bundles/tiny/fp32.tflite"
        r["device"] = {**r["device"], "pi_model": "Raspberry Pi 5 Model B Rev 1.0", "machine": "aarch64"}
    (tmp_path / "pi.json").write_text(json.dumps(doc))
    entries, warnings, _ = load_inputs([tiny_bundle, tmp_path / "x86.json", tmp_path / "pi.json"])
    assert not warnings
    e = next(e for e in entries if e.file == "fp32.tflite")
    assert len(e.latency) == 2 and any("Raspberry Pi 5" in d for d in e.latency)
    proc = run_cli("report", str(tiny_bundle), str(tmp_path / "pi.json"), "--pick", "--max-gzip-mb", "1",
                   "--max-p50-ms", "50", "--device", "Pi 5")
    assert proc.returncode == 0, proc.stderr
    assert "tiny/" in proc.stdout


def test_dense_reference_is_the_trained_model_not_a_control():
    from edgeprune.study.report import dense_reference

    control = _e("control", 0.8, 900, method="none")
    control.parent = "base"
    dense = _e("dense", 0.7, 1000, method="none")
    assert dense_reference([control, dense])["fp32"] is dense
    assert dense_reference([dense, control])["fp32"] is dense


def test_report_column_values():
    from edgeprune.study.report import table_rows

    dense = _e("dense", 0.80, 1000, p50=2.0, method="none")
    dense.naive_bound_bytes, dense.entropy_floor_bytes = 1100, 800
    pruned = _e("w90", 0.75, 250, p50=1.6)
    pruned.naive_bound_bytes, pruned.entropy_floor_bytes, pruned.sparsity, pruned.target = 200, 125, 0.9, 0.9
    cols, rows = table_rows([pruned, dense])
    by = {r[0]: dict(zip(cols, r)) for r in rows}
    assert [r[0] for r in rows] == ["dense", "w90"]  # the registry's order: none before weight
    w = by["w90"]
    assert w["x smaller (gzip, same format)"] == "4.00x" and w["achieved"] == "0.900" and w["target"] == "0.9"
    assert w["gzip / naive bound"] == "1.25x" and w["gzip / entropy floor"] == "2.00x"
    assert w["speed-up [cpu, 2 thr]"] == "1.25x" and w["p50 ms [cpu, 2 thr]"] == "1.600"
    assert by["dense"]["gzip / naive bound"] == "0.91x"  # gzip beats the naive bound of a dense fp32 file


def test_sweep_cli_prints_its_table_and_writes_its_files(tiny_run, tmp_path):
    run, ws = tiny_run
    proc = run_cli("sweep", "tiny", "--method", "weight", "--values", "0.5", "--epochs", "2", "--batch-size", "16",
                   "--formats", "fp32", "--out", str(tmp_path / "sw"), "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "weight-50" in proc.stdout and "dense" in proc.stdout and "fp32 gzip" in proc.stdout
    lines = [json.loads(l) for l in (tmp_path / "sw" / "results.jsonl").read_text().splitlines()]
    assert [l["cell"] for l in lines] == ["dense", "weight-50"] and lines[1]["sparsity"] >= 0.49
    assert (tmp_path / "sw" / "exports" / "weight-50" / "export.json").is_file()


def test_report_vs_control_and_recovery_are_paired():
    from edgeprune.paired_accuracy import pack
    from edgeprune.study.report import table_rows

    n = 400
    control = np.zeros(n, bool)
    control[:300] = True  # 75 %
    plain = control.copy()
    plain[:20] = False  # 70 %: 20 images lost, all of them ones the control got right
    kd = plain.copy()
    kd[:8] = True  # 72 %: the teacher wins 8 of them back
    opts = {"epochs": 10, "lr": 3e-4, "seed": 42, "distill_alpha": 0.5, "temperature": 4.0}
    rows_in = []
    for name, bits, distill in (("w90", plain, False), ("w90-kd", kd, True)):
        e = _e(name, bits.mean(), 300)
        e.parent, e.keras_test_accuracy, e.test_correct = "base", bits.mean(), pack(bits)
        e.control_test_accuracy, e.control_test_correct = control.mean(), pack(control)
        e.options = {**opts, "distill": distill}
        rows_in.append(e)
    other = _e("w90-other-lr", 0.7, 300)
    other.parent, other.options = "base", {**opts, "lr": 1e-3, "distill": False}  # not the twin: another rate
    cols, rows = table_rows([*rows_in, other])
    by = {r[0]: dict(zip(cols, r)) for r in rows}
    se = lambda d: np.std(d, ddof=1) / np.sqrt(n)  # noqa: E731
    assert by["w90"]["vs control (points ± s.e.)"] == f"-5.00 ± {100 * se(plain.astype(float) - control):.2f}"
    assert by["w90-kd"]["recovery: kd − plain (points ± s.e.)"] == f"+2.00 ± {100 * se(kd.astype(float) - plain):.2f}"
    assert by["w90"]["recovery: kd − plain (points ± s.e.)"] == "-"  # not distilled
    rows_in[1].options["latency_format"] = "fp32"  # an option the plain run's older edgeprune did not record
    cols, rows = table_rows([*rows_in, other])
    assert dict(zip(cols, rows[[r[0] for r in rows].index("w90-kd")]))["recovery: kd − plain (points ± s.e.)"] != "-"
    del rows_in[1].options["latency_format"]
    other.options["lr"], other.keras_test_accuracy = 3e-4, 0.70  # now the twin, without kept test images: unpaired
    rows_in[0].options["steps"] = 3  # the plain twin must match every option but the teacher's
    cols, rows = table_rows([rows_in[1], other])
    assert dict(zip(cols, rows[[r[0] for r in rows].index("w90-kd")]))["recovery: kd − plain (points ± s.e.)"] == "+2.00"


def test_sweep_seeds_and_distill_both_make_one_cell_each(tiny_run, tmp_path):
    run, _ = tiny_run
    proc = run_inproc("sweep", str(run.path), "--method", "filter", "--values", "0.5", "--epochs", "1", "--batch-size",
                      "16", "--distill", "both", "--seeds", "1,2", "--steps", "1", "--lr-schedule", "cosine", "--formats",
                      "fp32", "--out", str(tmp_path / "sw"), "-w", str(tmp_path / "ws"), "-q")
    assert proc.returncode == 0, proc.stderr
    cells = [json.loads(l) for l in (tmp_path / "sw" / "results.jsonl").read_text().splitlines()]
    assert [c["cell"] for c in cells] == ["dense", "filter-50-s1", "filter-50-kd-s1", "filter-50-s2", "filter-50-kd-s2"]
    assert [(c["seed"], c["distill"]) for c in cells[1:]] == [(1, False), (1, True), (2, False), (2, True)]
    kd = json.loads((tmp_path / "ws" / f"{run.name}-filter-50-kd-s2" / "run.json").read_text())
    assert kd["options"]["distill"] is True and kd["options"]["seed"] == 2 and kd["options"]["lr_schedule"] == "cosine"
    assert all(c["options"]["lr_schedule"] == "cosine" for c in cells)
    assert "over seeds" in proc.stdout and "filter-50-kd" in proc.stdout.split("over seeds")[1]


def test_cells_over_seeds_are_paired_with_the_control_of_their_own_seed():
    from edgeprune.paired_accuracy import pack
    from edgeprune.records import SweepCell
    from edgeprune.study.seeds import over_seeds, points

    n = 1000
    rng = np.random.default_rng(0)

    def cell(name, method, seed, right, epochs=3, error=None):
        bits = np.zeros(n, bool)
        bits[rng.permutation(n)[:right]] = True
        return SweepCell(cell=name, method=method, value=0.5 if method != "none" else None, seed=seed, epochs=epochs,
                         test_accuracy=right / n, test_correct=pack(bits), error=error)

    cells = [cell("dense", "none", 42, 700, epochs=0), cell("control-ft3", "none", 42, 760),
             cell("filter-50", "filter", 42, 720),
             cell("control-ft3-s1", "none", 1, 770), cell("filter-50-s1", "filter", 1, 740),
             cell("control-ft3-s2", "none", 2, 750), cell("filter-50-s2", "filter", 2, 700),
             cell("weight-90-s2", "weight", 2, 500, error="boom")]
    rows = {g.cell: g for g in over_seeds(cells)}
    assert set(rows) == {"control-ft3", "filter-50"}  # the dense cell and a failed cell are not rows
    f = rows["filter-50"]
    assert f.seeds == [42, 1, 2] and f.accuracy()[0] == pytest.approx((0.72 + 0.74 + 0.70) / 3)
    assert f.accuracy()[1] == pytest.approx(float(np.std([0.72, 0.74, 0.70], ddof=1)))
    diffs = [d.diff for d in f.vs_control]  # each against its own seed's control
    assert diffs == pytest.approx([0.72 - 0.76, 0.74 - 0.77, 0.70 - 0.75])
    assert f.difference()[0] == pytest.approx(np.mean(diffs)) and rows["control-ft3"].difference() is None
    assert points(f.difference(), signed=True).startswith("-4.00 ± ")
    lone = over_seeds([cells[1], cells[2]])[1]
    assert lone.accuracy()[1] is None and points(lone.accuracy()) == "72.00"
