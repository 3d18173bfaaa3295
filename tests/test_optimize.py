"""`edgeprune optimize` (issue 25): the pick rule on hand-made candidates, the plan and its refusals, and the
hand-off flow end to end (candidates written, benched by a process that cannot import TensorFlow, resumed)."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, run_inproc
from test_latency_budget import synthetic_table

from edgeprune.paired_accuracy import pack
from edgeprune.records import OptimizeCandidate, OptimizeRecord
from edgeprune.study.optimize_pick import pick

N = 100


def cand(key: str, p50: float, ci: tuple[float, float], right: list[int], gzip_kb: float = 100.0) -> OptimizeCandidate:
    """A measured candidate that got the images ``right`` (indices) of N correct."""
    bits = np.zeros(N, bool)
    bits[right] = True
    return OptimizeCandidate(key=f"{key}/fp32.tflite", cell=key, file="fp32.tflite", format="fp32", method="filter",
                             measured=True, p50_ms=p50, p50_ci=list(ci), gzip_bytes=int(gzip_kb * 1024),
                             accuracy=float(bits.mean()), test_correct=pack(bits))


def test_over_budget_is_never_picked_and_the_most_accurate_within_it_is():
    fast = cand("fast", 0.50, (0.45, 0.55), list(range(70)))
    good = cand("good", 0.70, (0.66, 0.74), list(range(85)))
    slow = cand("slow", 1.20, (1.1, 1.3), list(range(95)))  # the most accurate, over the budget
    res = pick([fast, good, slow], max_ms=0.8)
    assert res.pick is good and not res.tie
    assert slow.lost == "over budget" and "1.2 ms measured" in slow.why
    assert fast.lost == "less accurate" and fast.vs_pick["diff"] == pytest.approx(-0.15)
    assert good.lost is None and good.vs_pick is None
    # a budget nothing meets as measured: no pick, and why
    res = pick([fast, good, slow], max_ms=0.3)
    assert res.pick is None and "3 over the latency budget" in res.message


def test_an_interval_reaching_over_the_budget_is_not_resolved_and_loses():
    edge = cand("edge", 0.75, (0.70, 0.86), list(range(95)))  # p50 under 0.8, its upper bound over
    safe = cand("safe", 0.60, (0.58, 0.62), list(range(80)))
    res = pick([edge, safe], max_ms=0.8)
    assert res.pick is safe
    assert edge.lost == "not resolved" and "0.86" in edge.why
    assert pick([edge, safe], max_ms=0.9).pick is edge  # under a budget above its interval it wins


def test_within_one_paired_se_the_smaller_and_faster_wins_and_it_is_a_tie():
    base = list(range(80))
    best = cand("best", 0.70, (0.68, 0.72), base + [90, 91], gzip_kb=400)  # 82 %
    small = cand("small", 0.50, (0.48, 0.52), base + [95], gzip_kb=100)  # 81 %: 1 point, s.e. about 1.7
    worse = cand("worse", 0.40, (0.39, 0.41), list(range(60)), gzip_kb=50)  # 60 %: far outside one s.e.
    crawl = cand("crawl", 0.78, (0.76, 0.79), base + [96], gzip_kb=99)  # 81 %, a little smaller, much slower
    res = pick([best, small, worse, crawl], max_ms=0.8)
    assert res.pick is small and res.tie and sorted(res.tied_with) == sorted([best.key, crawl.key])
    assert crawl.lost == "tie"
    assert best.lost == "tie" and best.vs_pick["diff"] == pytest.approx(0.01)
    assert best.vs_pick["se"] > 0.01  # the tie is real: the difference is within one paired s.e.
    assert worse.lost == "less accurate"
    # the size budget and the least accuracy are budgets too
    res = pick([best, small, worse], max_ms=0.8, max_kb=80)
    assert res.pick is worse and small.lost == "over size" and best.lost == "over size"
    res = pick([best, small, worse], max_ms=0.8, min_accuracy=0.815)
    assert res.pick is best and small.lost == "below min accuracy"


def test_files_of_one_graph_are_timed_as_one_and_the_more_accurate_twin_is_then_picked():
    """The dense model and its fine-tuned control, in one format, run the same kernels: their rounds are pooled, so
    noise in one file's interval cannot hand the budget to the less accurate twin."""
    from edgeprune.device.intervals import bootstrap_ci
    from edgeprune.records import BenchRow
    from edgeprune.study.optimize import pool_twins

    dense = cand("dense", 0.090, (0.089, 0.091), list(range(70)))
    control = cand("control", 0.091, (0.0897, 0.0938), list(range(75)))  # its own interval reaches over 0.0925
    other = cand("filter", 0.080, (0.079, 0.081), list(range(60)))
    r_dense = [0.0896, 0.0899, 0.0903, 0.0904, 0.0884, 0.0900, 0.0912]
    r_ctl = [0.0911, 0.0897, 0.0938, 0.0902, 0.0915, 0.0905, 0.0909]
    rows = [BenchRow(model=c.key, name=c.key, p50_rounds=r) for c, r in
            ((dense, r_dense), (control, r_ctl), (other, [0.08, 0.081, 0.079]))]
    assert pick([dense, control, other], max_ms=0.0925).pick is dense  # alone, the control is not resolved
    graph = {dense.key: "A", control.key: "A", other.key: "B"}
    pool_twins([dense, control, other], rows, lambda c: graph[c.key])
    per_round = [(a + b) / 2 for a, b in zip(r_dense, r_ctl)]  # the same rounds of one bench call
    assert dense.p50_ms == control.p50_ms == pytest.approx(float(np.median(per_round)))
    assert control.p50_ci == pytest.approx(list(bootstrap_ci(per_round))) and control.p50_ci[1] < 0.0925
    assert control.timed_with == [dense.key] and dense.timed_with == [control.key]
    assert control.own_p50_ms == 0.091 and control.own_p50_ci == [0.0897, 0.0938]
    assert other.timed_with is None and other.p50_ms == 0.080
    assert pick([dense, control, other], max_ms=0.0925).pick is control
    # one graph by its digest, but measurably slower round after round: not pooled; nor another format's file
    slow = cand("slow", 0.099, (0.098, 0.1), list(range(80)))
    fp16 = cand("dense", 0.090, (0.089, 0.091), list(range(70)))
    fp16.key, fp16.format = "dense/fp16.tflite", "fp16"
    rows2 = rows + [BenchRow(model=slow.key, name=slow.key, p50_rounds=[v * 1.1 for v in r_dense]),
                    BenchRow(model=fp16.key, name=fp16.key, p50_rounds=r_dense)]
    d2 = cand("dense", 0.090, (0.089, 0.091), list(range(70)))
    pool_twins([d2, slow, fp16], rows2, lambda c: "A")
    assert d2.timed_with is None and slow.timed_with is None and fp16.timed_with is None


def test_unmeasured_and_failed_candidates_lose_with_their_reason():
    ok = cand("ok", 0.5, (0.4, 0.6), list(range(50)))
    gone = OptimizeCandidate(key="gone/fp32.tflite", cell="gone", file="fp32.tflite", format="fp32", method="weight")
    broke = OptimizeCandidate(key="b/int8.tflite", cell="b", file="int8.tflite", format="int8", method="filter",
                              lost="failed", why="XNNPACK refused it")
    res = pick([ok, gone, broke], max_ms=1.0)
    assert res.pick is ok and gone.lost == "not measured" and broke.lost == "failed" and broke.why == "XNNPACK refused it"
    rec = OptimizeRecord(run="r", max_ms=1.0, state="done", candidates=[ok, gone, broke], pick=ok.key)
    again = OptimizeRecord.from_dict(json.loads(json.dumps(rec.to_dict())), "optimize.json")
    assert again.candidate(ok.key).p50_ci == [0.4, 0.6] and again.candidate("b/int8.tflite").lost == "failed"


def scaled_table(manifest, path: Path) -> Path:
    """The synthetic table with every time x1000: predictions in ms where the tiny files run in microseconds, so
    every candidate meets a budget set on the predictions."""
    synthetic_table(manifest, path)
    doc = json.loads(path.read_text())
    for r in doc["rows"]:
        r["p50_ms"] *= 1000
    path.write_text(json.dumps(doc))
    return path


def test_dry_run_prints_the_plan_and_writes_nothing_and_an_unreachable_budget_names_the_fastest(tiny_run, tiny_probe,
                                                                                              tmp_path):
    run, _ = tiny_run
    table = scaled_table(tiny_probe[1], tmp_path / "t.json")
    ws = tmp_path / "ws"
    args = ["optimize", str(run.path), "--latency-table", str(table), "--formats", "fp32", "--epochs", "1", "-w", str(ws)]
    proc = run_inproc(*args, "--max-ms", "0.6x", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in ("dense", "control-ft1", "filter-t", "predicted ms", "estimated", "nothing was trained"):
        assert needle in out, (needle, out)
    assert not ws.exists()  # nothing written, not even the workspace
    # a size budget that binds: weight sparsity where the dense model is fast enough, filters and sparsity where not
    proc = run_inproc(*args, "--max-ms", "40", "--max-kb", "5", "--dry-run")
    assert proc.returncode == 0 and "weight-50" in proc.stdout and "filter-" not in proc.stdout, proc.stdout
    proc = run_inproc(*args, "--max-ms", "0.8x", "--max-kb", "4", "--dry-run")
    assert proc.returncode == 0 and "hybrid-25-" in proc.stdout, proc.stdout
    assert_user_error(run_inproc(*args, "--max-ms", "40", "--max-kb", "0.1"), "the smallest is fp32 at 95% sparsity")
    assert not ws.exists()
    proc = run_inproc(*args, "--max-ms", "0.001")
    assert_user_error(proc, "below what any candidate is predicted to reach", "the fastest is filter-95")
    assert not ws.exists()
    assert_user_error(run_inproc(*args, "--max-ms", "abc"), "--target-ms takes fractions")
    assert_user_error(run_inproc(*args[:-2], "--max-ms", "1", "--formats", "int8", "-w", str(ws)), "not int8")
    assert_user_error(run_inproc(*args, "--max-ms", "1", "--bench", str(table)), "--resume")


NO_TF_BENCH = ("import sys\n"
               "for m in ('tensorflow', 'tf_keras', 'keras', 'tensorflow_model_optimization'):\n"
               "    sys.modules[m] = None  # any import of them raises\n"
               "from edgeprune.cli import main\n"
               "sys.argv = ['edgeprune', 'bench', *sys.argv[1:]]\n"
               "main()\n")


@pytest.mark.ray  # it ends by starting a Ray head: `make test` runs it with the other Ray tests, alone
def test_handoff_bench_without_tensorflow_then_resume_picks(tiny_run, tiny_probe, tmp_path):
    run, _ = tiny_run
    table = scaled_table(tiny_probe[1], tmp_path / "t.json")
    ws, out = tmp_path / "ws", tmp_path / "opt"
    args = ["optimize", str(run.path), "--latency-table", str(table), "--max-ms", "0.8x", "--formats", "fp32",
            "--epochs", "1", "--batch-size", "16", "-w", str(ws), "--out", str(out), "-q"]
    proc = run_inproc(*args, "--handoff")
    assert proc.returncode == 0, proc.stderr
    assert "handed off" in proc.stdout and "--resume --bench" in proc.stdout
    rec = json.loads((out / "optimize.json").read_text())
    assert rec["state"] == "handed off" and rec["version"] == 1
    cells = {c["cell"] for c in rec["candidates"]}
    assert {"dense", "control-ft1"} <= cells and any(c.startswith("filter-t") for c in cells)
    files = sorted((out / "candidates").glob("*/*.tflite"))
    assert {f.parent.name for f in files} == cells  # every candidate predicted near the budget is handed off
    assert all((f.parent / "testset.npz").is_file() for f in files)
    # the device: bench only, in a process where TensorFlow cannot be imported
    device = tmp_path / "device.json"
    bench = subprocess.run([sys.executable, "-c", NO_TF_BENCH, *map(str, files), "--threads", "2", "--rounds", "2",
                            "--min-time", "0", "--runs", "5", "--predictions", "--json", str(device)],
                           capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0, bench.stderr
    assert all(r["tensorflow_imported"] is False for r in json.loads(device.read_text())["results"])
    # a deciding option other than the recorded one is refused; then the resume finishes without training again
    assert_user_error(run_inproc(*args, "--resume", "--bench", str(device), "--epochs", "3"), "--epochs differs")
    runs_before = {p.name: (p / "run.json").stat().st_mtime_ns for p in ws.iterdir() if (p / "run.json").is_file()}
    proc = run_inproc("optimize", str(run.path), "-w", str(ws), "--out", str(out), "--resume", "--bench", str(device))
    assert proc.returncode == 0, proc.stderr
    assert {p.name: (p / "run.json").stat().st_mtime_ns for p in ws.iterdir() if (p / "run.json").is_file()} == runs_before
    rec = OptimizeRecord.from_dict(json.loads((out / "optimize.json").read_text()), "optimize.json")
    assert rec.state == "done" and rec.pick is not None and rec.measured_by == str(device.resolve())
    chosen = rec.candidate(rec.pick)
    assert chosen.p50_ci[1] <= rec.max_ms and chosen.lost is None
    eligible = [c for c in rec.candidates if c.lost in (None, "tie", "less accurate")]
    assert len(eligible) == len(rec.candidates)  # every tiny file runs far under the budget
    assert all(c.accuracy <= chosen.accuracy or c.lost == "tie" for c in eligible)
    assert all(c.vs_pick is not None for c in eligible if c is not chosen)  # paired on the device's predictions
    # the dense model and its control are one graph in fp32: timed as one; the filter candidate is another graph
    by = {c.key: c for c in rec.candidates}
    d, ctl = by["dense/fp32.tflite"], by["control-ft1/fp32.tflite"]
    assert d.timed_with == [ctl.key] and ctl.timed_with == [d.key] and d.p50_ms == ctl.p50_ms
    assert d.own_p50_ms is not None and ctl.own_p50_ci is not None
    assert all(c.timed_with is None for c in rec.candidates if c.cell.startswith("filter-t"))
    assert (out / rec.pick_file).is_file() and (out / "report.md").read_text().count(rec.pick) >= 1
    # a bench file naming files that are not candidates (paths are never followed) is refused in one line
    doc = json.loads(device.read_text())
    for r in doc["results"]:
        r["name"], r["model"] = "../../etc/" + Path(r["name"]).name, "/etc/passwd"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert_user_error(run_inproc("optimize", str(run.path), "-w", str(ws), "--out", str(out), "--resume", "--bench",
                                 str(bad)), "measured none of this optimize's candidates")
    assert json.loads((out / "optimize.json").read_text())["pick"] == rec.pick  # the finished result is kept
    # this machine as the device: the same candidates timed here, in interleaved rounds
    proc = run_inproc("optimize", str(run.path), "-w", str(ws), "--out", str(out), "--resume", "--rounds", "2",
                      "--min-time", "0")
    assert proc.returncode == 0, proc.stderr
    here = OptimizeRecord.from_dict(json.loads((out / "optimize.json").read_text()), "optimize.json")
    assert here.measured_by == "local" and here.pick is not None and (out / "bench.json").is_file()
    assert all(c.measured and len(c.p50_ci) == 2 for c in here.candidates)
    # or a Ray node holding the device's resource times them (a head started as a user would, loopback only)
    from test_ray_executor import _netns_problem, with_ray_head

    if _netns_problem() is not None or find_spec("ray") is None:
        return
    cmd = [sys.executable, "-m", "edgeprune", "optimize", str(run.path), "-w", str(ws), "--out", str(out), "--resume",
           "--executor", "ray", "--address", "127.0.0.1:6398", "--bench-on", "devbox", "--rounds", "2", "--min-time",
           "0", "-q"]
    proc = with_ray_head(cmd, 6398, "devbox")
    assert proc.returncode == 0, proc.stderr[-3000:]
    there = OptimizeRecord.from_dict(json.loads((out / "optimize.json").read_text()), "optimize.json")
    assert there.measured_by == "ray:devbox" and there.pick is not None
    assert all(c.measured for c in there.candidates) and not (out / ".bench-on").exists()
    rows = json.loads((out / "bench.json").read_text())["results"]  # the driver's paths, not the node's
    assert {str(Path(r["model"]).parent.parent) for r in rows} == {str((out / "exports").resolve())}
