"""`edgeprune bench`: runtime-only separation, every field of the JSON, faults and crash isolation."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import ROOT, run_cli

from edgeprune.device.bench import BenchOptions, bench
from edgeprune.errors import UserError

BLOCK_TF = textwrap.dedent("""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"):
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, _Block())
""")

JSON_FIELDS = ("accuracy", "bytes", "gzip_bytes", "latency_ms", "images_per_s", "init_ms", "peak_rss_mb", "threads",
               "xnnpack", "runtime", "device", "error")


def test_bench_prints_table_and_writes_every_field(tiny_bundle, tmp_path):
    out = tmp_path / "b.json"
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), str(tiny_bundle / "int8.tflite"), "--runs", "20",
                   "--rounds", "2", "--json", str(out), "--csv", str(tmp_path / "b.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "fp32.tflite" in proc.stdout and "int8.tflite" in proc.stdout and "speed-up" in proc.stdout
    doc = json.loads(out.read_text())
    assert len(doc["results"]) == 2
    for r in doc["results"]:
        for key in JSON_FIELDS:
            assert key in r, key
        assert set(r["latency_ms"]) == {"mean", "std", "min", "p50", "p90", "p99"}
        assert r["latency_ms"]["min"] <= r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        assert r["error"] is None and 0 <= r["accuracy"] <= 1 and r["n_images"] > 0
        assert r["runtime"]["name"] == "ai-edge-litert"
        assert r["device"]["machine"] and r["device"]["cores"] >= 1
        assert sum(map(sum, r["confusion"])) == r["n_images"]
    export = json.loads((tiny_bundle / "export.json").read_text())
    by_file = {f["file"]: f for f in export["files"]}
    for r in doc["results"]:  # the device scores exactly what the workbench scored
        assert r["accuracy"] == pytest.approx(by_file[r["model"].split("/")[-1]]["accuracy"])
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("model,format,threads")
    # --append adds rows instead of replacing them
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--runs", "5", "--threads", "1,2", "--json", str(out), "--append",
                   "--rounds", "1")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 4 and [r["threads"] for r in rows[2:]] == [1, 2]


def test_rounds_give_intervals_and_the_self_check_its_resolution(tiny_bundle, tmp_path):
    files = [tiny_bundle / "fp32.tflite", tiny_bundle / "int8.tflite"]
    res = bench(files, BenchOptions(runs=20, warmup=2, rounds=3, self_check=True))
    assert [r.label for r in res.rows] == ["tiny/fp32.tflite", "tiny/int8.tflite", "tiny/fp32.tflite (again)"]
    for r in res.rows:
        assert r.error is None and r.rounds == 3 and len(r.p50_rounds) == 3 and r.accuracy is not None
        assert r.p50_ci[0] <= r.p50 <= r.p50_ci[1] and r.latency_ms.min <= r.p50 <= r.latency_ms.p99
        assert r.p50 == pytest.approx(float(np.median(r.p50_rounds)))
    ref, other, again = res.rows
    assert ref.speedup == 1.0 and ref.speedup_ci is None  # the reference itself
    assert other.speedup_ci[0] <= other.speedup <= other.speedup_ci[1]
    assert again.self_check and again.speedup_ci is not None and isinstance(again.speedup_resolved, bool)
    proc = run_cli("bench", "--min-time", "0", *map(str, files), "--rounds", "2", "--runs", "10", "--self-check", "--json",
                   str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    assert "resolution: the same file measured twice" in proc.stdout and "median of 2 rounds" in proc.stdout
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert all("times_ms" not in r for r in rows) and rows[2]["self_check"] is True


def test_min_time_keeps_timing_past_runs_until_it_has_passed():
    from edgeprune.device.measure import time_runs

    calls = []
    invoke = lambda: (calls.append(1), time.sleep(0.002))  # noqa: E731
    ms = time_runs(lambda x: None, invoke, None, runs=5, min_time_s=0.0)
    assert len(ms) == 5 == len(calls) and all(t >= 2.0 for t in ms)
    calls.clear()
    t0 = time.perf_counter()
    ms = time_runs(lambda x: None, invoke, None, runs=5, min_time_s=0.1)
    assert time.perf_counter() - t0 >= 0.1 and 10 < len(ms) == len(calls) <= 60
    with pytest.raises(UserError, match="--min-time"):
        BenchOptions(min_time_s=-1).check()


def test_bench_runs_with_tensorflow_unimportable(tiny_bundle, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_TF)  # children inherit it through PYTHONPATH
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    probe = run_cli("--help", env=env)
    assert probe.returncode == 0
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], env={**os.environ, **env}, capture_output=True)
    assert check.returncode != 0  # the block works
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "int8.tflite"), "--runs", "5", "--rounds", "1", "--json", str(tmp_path / "b.json"),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "b.json").read_text())["results"][0]
    assert r["error"] is None and r["accuracy"] is not None


def _bad_inputs(tmp_path, tiny_bundle):
    good = (tiny_bundle / "fp32.tflite").read_bytes()
    files = {}
    files["truncated"] = good[: len(good) // 3]
    files["random"] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    files["png"] = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    out = {}
    for k, v in files.items():
        p = tmp_path / f"{k}.tflite"
        p.write_bytes(v)
        out[k] = p
    return out


def test_faults_are_errors_for_that_model_only(tiny_bundle, tmp_path):
    bad = _bad_inputs(tmp_path, tiny_bundle)
    res = bench([tiny_bundle / "fp32.tflite", *bad.values(), tmp_path / "missing.tflite"], BenchOptions(runs=3, warmup=0))
    assert res.rows[0].error is None and res.rows[0].accuracy is not None
    for r in res.rows[1:]:
        assert r.error and "\n" not in r.error, r
    assert res.failed == 4
    # data whose image size does not fit the model
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(4, np.int64))
    (tmp_path / "small.npz").write_bytes(buf.getvalue())
    r = bench([tiny_bundle / "fp32.tflite"], BenchOptions(runs=3, warmup=0, data=str(tmp_path / "small.npz"))).rows[0]
    assert "8x8" in r.error and "16x16" in r.error
    # a pickled .npz is refused, never unpickled
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "x.npy")
        z.write(tmp_path / "obj.npy", "y.npy")
    r = bench([tiny_bundle / "fp32.tflite"], BenchOptions(runs=3, warmup=0, data=str(tmp_path / "evil.npz"))).rows[0]
    assert r.error and "pickle" in r.error.lower() or "readable" in r.error
    # the CLI: one line per failed model, exit code 1 since some failed
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), str(bad["random"]), "--runs", "3", "--rounds", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "random.tflite" in proc.stdout and "TFL3" in proc.stdout


def test_two_input_model_is_refused(tmp_path):
    from edgeprune.workbench.tf import keras, tf

    a, b = keras.Input((4,)), keras.Input((4,))
    m = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    p = tmp_path / "two.tflite"
    p.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    r = bench([p], BenchOptions(runs=2, warmup=0)).rows[0]
    assert "2 inputs" in r.error


def test_native_crash_is_isolated_and_falls_back(tiny_bundle, tmp_path, monkeypatch):
    fake = tmp_path / "fake" / "ai_edge_litert"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "interpreter.py").write_text(
        "import os, signal\nclass Interpreter:\n    def __init__(self, *a, **k):\n        os.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "fake"), str(ROOT)]))
    crashed = bench([tiny_bundle / "fp32.tflite"], BenchOptions(runs=2, warmup=0, runtime="ai-edge-litert")).rows[0]
    assert "crashed (SIGSEGV)" in crashed.error
    # without a named runtime the harness retries with the next one it finds, and says so
    monkeypatch.setattr("edgeprune.device.runtime.available", lambda names=None: ["ai-edge-litert", "tensorflow"])
    row = bench([tiny_bundle / "fp32.tflite"], BenchOptions(runs=2, warmup=0)).rows[0]
    assert row.error is None and row.runtime["name"] == "tensorflow"
    assert "crashed" in row.note and "tensorflow" in row.note


def test_mutated_files_end_in_a_result_or_a_clear_error(tiny_bundle, tmp_path):
    good = (tiny_bundle / "int8.tflite").read_bytes()
    rng = np.random.default_rng(1)
    folder = tmp_path / "mut"
    folder.mkdir()
    paths = []
    n = len(good)
    for i in range(240):
        b = bytearray(good)
        kind = i % 4
        if kind == 0:
            b = b[: int(rng.integers(1, n))]
        elif kind == 1:  # header
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, min(64, n)))] = int(rng.integers(0, 256))
        elif kind == 2:  # tail (metadata, buffers' offsets)
            for _ in range(int(rng.integers(1, 8))):
                b[n - 1 - int(rng.integers(0, min(512, n)))] = int(rng.integers(0, 256))
        else:  # anywhere
            for _ in range(int(rng.integers(1, 16))):
                b[int(rng.integers(0, n))] = int(rng.integers(0, 256))
        p = folder / f"m{i:03d}.tflite"
        p.write_bytes(bytes(b))
        paths.append(p)
    res = bench(paths, BenchOptions(runs=1, warmup=0, timeout_s=60))
    assert len(res.rows) == 240
    outcomes = {"ok": 0, "error": 0}
    for r in res.rows:
        if r.error:
            assert isinstance(r.error, str) and r.error.strip() and "\n" not in r.error
            outcomes["error"] += 1
        else:
            assert r.latency_ms.p50 > 0
            outcomes["ok"] += 1
    assert outcomes["error"] >= 60  # every truncation at least fails cleanly
