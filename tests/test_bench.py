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
    assert "GFLOP/s" in proc.stdout
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
        for key in ("cpu_vendor", "cpu_family", "cpu_model", "cpu_part", "isa", "max_mhz"):  # None where unknown
            assert key in r["device"], key
    macs = json.loads((tiny_bundle / "model.json").read_text())["source_run"]["macs"]
    for r in doc["results"]:  # achieved GFLOP/s, from the model card's MACs and the p50
        assert r["macs"] == macs > 0 and r["gflops"] == pytest.approx(2 * macs / (r["latency_ms"]["p50"] / 1e3) / 1e9)
    export = json.loads((tiny_bundle / "export.json").read_text())
    by_file = {f["file"]: f for f in export["files"]}
    for r in doc["results"]:  # the device scores exactly what the workbench scored
        assert r["accuracy"] == pytest.approx(by_file[r["model"].split("/")[-1]]["accuracy"])
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("model,format,threads") and lines[0].endswith(",macs,gflops,cpu_id")
    # --append adds rows instead of replacing them
    proc = run_cli("bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"), "--runs", "5", "--threads", "1,2", "--json", str(out), "--append",
                   "--rounds", "1")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 4 and [r["threads"] for r in rows[2:]] == [1, 2]


def test_rounds_give_intervals_and_the_self_check_its_resolution(tiny_bundle, tmp_path):
    files = [tiny_bundle / "fp32.tflite", tiny_bundle / "int8.tflite"]
    res = bench(files, BenchOptions(min_time_s=0, runs=20, warmup=2, rounds=3, self_check=True))
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

    now = [0]  # a clock the test owns: each run takes exactly 2 ms of it, whatever else the machine does
    calls = []

    def invoke():
        calls.append(1)
        now[0] += 2_000_000

    ms = time_runs(lambda x: None, invoke, None, runs=5, min_time_s=0.0, clock=lambda: now[0])
    assert len(ms) == 5 == len(calls) and all(t == 2.0 for t in ms)  # --runs alone: exactly that many
    calls.clear()
    ms = time_runs(lambda x: None, invoke, None, runs=5, min_time_s=0.1, clock=lambda: now[0])
    assert len(ms) == len(calls) == 50  # 100 ms of 2 ms runs: timing went on past --runs until --min-time passed
    ms = time_runs(lambda x: None, invoke, None, runs=80, min_time_s=0.1, clock=lambda: now[0])
    assert len(ms) == 80  # --runs beyond --min-time: every run is timed
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
    res = bench([tiny_bundle / "fp32.tflite", *bad.values(), tmp_path / "missing.tflite"],
                BenchOptions(rounds=1, min_time_s=0, runs=3, warmup=0))
    assert res.rows[0].error is None and res.rows[0].accuracy is not None
    for r in res.rows[1:]:
        assert r.error and "\n" not in r.error, r
    assert res.failed == 4
    # data whose image size does not fit the model
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(4, np.int64))
    (tmp_path / "small.npz").write_bytes(buf.getvalue())
    r = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                          runs=3, warmup=0, data=str(tmp_path / "small.npz"))).rows[0]
    assert "8x8" in r.error and "16x16" in r.error
    # a pickled .npz is refused, never unpickled
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "x.npy")
        z.write(tmp_path / "obj.npy", "y.npy")
    r = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                          runs=3, warmup=0, data=str(tmp_path / "evil.npz"))).rows[0]
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
    r = bench([p], BenchOptions(rounds=1, min_time_s=0, runs=2, warmup=0)).rows[0]
    assert "2 inputs" in r.error


def test_native_crash_is_isolated_and_falls_back(tiny_bundle, tmp_path, monkeypatch):
    fake = tmp_path / "fake" / "ai_edge_litert"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "interpreter.py").write_text(
        "import os, signal\nclass Interpreter:\n    def __init__(self, *a, **k):\n        os.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "fake"), str(ROOT)]))
    crashed = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                                runs=2, warmup=0, runtime="ai-edge-litert")).rows[0]
    assert "crashed (SIGSEGV)" in crashed.error
    # without a named runtime the harness retries with the next one it finds, and says so
    monkeypatch.setattr("edgeprune.device.runtime.available", lambda names=None: ["ai-edge-litert", "tensorflow"])
    row = bench([tiny_bundle / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0, runs=2, warmup=0)).rows[0]
    assert row.error is None and row.runtime["name"] == "tensorflow"
    assert "crashed" in row.note and "tensorflow" in row.note


def test_mutated_files_end_in_a_result_or_a_clear_error(tiny_bundle, tmp_path):
    good = (tiny_bundle / "int8.tflite").read_bytes()
    rng = np.random.default_rng(1)
    folder = tmp_path / "mut"
    folder.mkdir()
    paths = []
    n = len(good)
    for i in range(120):
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
    res = bench(paths, BenchOptions(rounds=1, min_time_s=0, runs=1, warmup=0, timeout_s=60))
    assert len(res.rows) == 120
    outcomes = {"ok": 0, "error": 0}
    for r in res.rows:
        if r.error:
            assert isinstance(r.error, str) and r.error.strip() and "\n" not in r.error
            outcomes["error"] += 1
        else:
            assert r.latency_ms.p50 > 0
            outcomes["ok"] += 1
    assert outcomes["error"] >= 30  # every truncation at least fails cleanly


def test_bench_options_default_to_what_the_command_line_does():
    """`BenchOptions()` is `edgeprune bench` with no options: every default of the command is the library's."""
    import dataclasses

    import typer

    from edgeprune.cli import app

    cmd = typer.main.get_command(app).commands["bench"]
    lib = BenchOptions()
    names = {f.name for f in dataclasses.fields(BenchOptions)}
    output_only = {"models", "json_out", "csv_out", "append", "force", "quiet"}  # what to write, not how to measure
    seen = set()
    for p in cmd.params:
        if p.name in output_only:
            continue
        if p.name in names:
            name, default = p.name, p.default
        elif p.name + "_s" in names:  # --min-time, --timeout: seconds
            name, default = p.name + "_s", p.default
        elif p.name.startswith("no_") and p.name[3:] in names:  # --no-xnnpack
            name, default = p.name[3:], not p.default
        else:
            raise AssertionError(f"bench option {p.name!r} has no BenchOptions field")
        if name == "threads" and isinstance(default, str):
            default = [None] if default in ("", "all") else [int(v) for v in default.split(",")]
        assert default == getattr(lib, name), (name, default, getattr(lib, name))
        seen.add(name)
    assert names - seen == {"fallback"}  # the one library-only field (no flag turns the fallback off)
    assert lib.rounds > 1 and lib.min_time_s > 0  # the command's careful defaults, not one quick round


def _cpuinfo_x86(family=25, model=17, flags="fpu sse4_2 avx avx2 fma avx512f avx512_vnni"):
    core = (f"processor\t: {{n}}\nvendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: {model}\n"
            f"model name\t: AMD EPYC\nstepping\t: 1\ncpu MHz\t\t: 2600.000\nflags\t\t: {flags}\n")
    return "\n".join(core.format(n=n) for n in range(2))


PI4_CPUINFO = "".join(f"processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
                      "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
                      "CPU revision\t: 3\n\n" for n in range(4)) + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n"


def test_device_info_says_which_cpu_it_is():
    from edgeprune.device.sysinfo import cpu_id, device_info

    x86 = device_info(_cpuinfo_x86(), max_freq_khz="3700000")
    assert (x86["cpu_vendor"], x86["cpu_family"], x86["cpu_model"], x86["cpu_stepping"]) == ("AuthenticAMD", 25, 17, 1)
    assert x86["isa"] == ["avx", "avx2", "avx512_vnni", "avx512f", "fma", "sse4_2"]  # fpu: no kernel is chosen by it
    assert x86["mhz"] == 2600.0 and x86["max_mhz"] == 3700.0 and x86["cpu_part"] is None
    assert cpu_id(x86) == "AuthenticAMD family 25 model 17 stepping 1"
    pi = device_info(PI4_CPUINFO, max_freq_khz="")
    assert (pi["cpu_vendor"], pi["cpu_implementer"], pi["cpu_part"], pi["cpu_core"]) == ("Arm", "0x41", "0xd08", "Cortex-A72")
    assert pi["cpu_family"] is None and pi["cpu_model"] is None  # "Model: Raspberry Pi 4" is not an x86 model number
    assert pi["isa"] == ["asimd"] and pi["max_mhz"] is None and pi["cpu"] == "BCM2835"
    assert cpu_id(pi) == "Arm Cortex-A72 (0xd08)"
    big_little = device_info(PI4_CPUINFO.replace("0xd08", "0xd0b", 2).replace("0xd08", "0xd05"))
    assert big_little["cpu_part"] == "0xd0b,0xd05" and big_little["cpu_core"] == "Cortex-A76,Cortex-A55"
    assert device_info("")["isa"] is None and cpu_id(device_info("")) is None  # nothing readable: unknown


def test_device_mismatch_names_the_first_difference_that_matters():
    from edgeprune.device.sysinfo import device_info, device_mismatch

    zen4 = device_info(_cpuinfo_x86())
    names = ("the bench", "the table")
    assert device_mismatch(zen4, dict(zen4, hostname="other", mhz=3100.0, os="Linux 7")) is None  # not the CPU
    assert device_mismatch(zen4, device_info(_cpuinfo_x86(model=1)), names) == \
        "CPU family/model: 25/17 on the bench, 25/1 on the table"
    no512 = device_info(_cpuinfo_x86(flags="sse4_2 avx avx2 fma"))
    assert device_mismatch(zen4, no512, names) == "ISA flags: avx512_vnni, avx512f only on the bench"
    pi4, pi5 = device_info(PI4_CPUINFO), device_info(PI4_CPUINFO.replace("0xd08", "0xd0b"))
    assert "Arm implementer/part: 0x41/0xd08 (Cortex-A72) on the bench, 0x41/0xd0b (Cortex-A76)" in \
        device_mismatch(pi4, pi5, names)
    assert device_mismatch(zen4, pi4).startswith("CPU vendor: AuthenticAMD")
    assert device_mismatch(zen4, dict(zen4, cores=zen4["cores"] + 2)).startswith("cores:")
    # older records lack the identity: what they lack is unknown, never a difference by itself ...
    old = {"cpu": "AMD EPYC", "machine": zen4["machine"], "cores": zen4["cores"], "pi_model": None}
    assert device_mismatch(old, dict(old)) is None
    assert device_mismatch(old, dict(old, cpu="Intel Xeon"), names) == "CPU: AMD EPYC on the bench, Intel Xeon on the table"
    # ... but the same name against a CPU that says what it is does not pass silently, and says what to do
    why = device_mismatch(zen4, old, names)
    assert "the table records only the CPU's name ('AMD EPYC')" in why and "measure it again" in why
    assert device_mismatch({"pi_model": "Raspberry Pi 4 Model B"}, dict(pi4, pi_model="Raspberry Pi 4 Model B")) is None


def _probe_folder(tmp_path):
    manifest = {"kind": "edgeprune-latency-probe", "version": 1, "round_to": 1, "formats": ["fp32"], "files": [],
                "model": {"run": "r", "image_size": 8, "input_shape": [1, 8, 8, 3], "widths": {"c1": 4}},
                "segments": [{"name": "c1", "producer": "c1", "cin_from": None, "cin_full": 3, "cout_full": 4,
                              "cins": [3], "couts": [4]}]}
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path / "probe", manifest


def test_latency_measure_resumes_only_on_the_same_cpu(tmp_path):
    from edgeprune.device import runtime as rt
    from edgeprune.device.latency_table import MeasureOptions, measure_probe
    from edgeprune.device.sysinfo import device_info

    folder, manifest = _probe_folder(tmp_path)
    table = tmp_path / "t.json"
    here = device_info()

    def write(device):
        table.write_text(json.dumps({"kind": "edgeprune-latency-table", "version": 1, "probe": manifest,
                                     "threads": None, "device": device, "xnnpack": True, "rows": [],
                                     "runtime": {"name": rt.load().name, "version": "x"}}))

    write(dict(here, cpu_family=(here["cpu_family"] or 0) + 1, cpu_part=None))
    with pytest.raises(UserError, match=r"another device \(CPU family/model: .*--force"):
        measure_probe(folder, table, MeasureOptions())
    write({k: here[k] for k in ("cpu", "machine", "cores", "pi_model")})  # an older edgeprune's table: name only
    if here["pi_model"] is None and (here["cpu_family"] is not None or here["cpu_part"]):
        with pytest.raises(UserError, match="records only the CPU's name"):
            measure_probe(folder, table, MeasureOptions())
    write(here)
    assert measure_probe(folder, table, MeasureOptions()).device == here  # the same device resumes
    write(dict(here, cpu_vendor="OtherVendor"))
    assert measure_probe(folder, table, MeasureOptions(force=True)).device == here  # --force measures anew


def test_latency_feedback_from_another_cpu_is_refused_naming_the_difference(tmp_path):
    from types import SimpleNamespace

    from edgeprune.device.sysinfo import device_info
    from edgeprune.latency.feedback import feedback_points

    table_dev = device_info(_cpuinfo_x86())
    lat = SimpleNamespace(table=SimpleNamespace(threads=2, device=table_dev))

    def bench_file(device):
        row = {"model": "b/fp32.tflite", "name": "b/fp32.tflite", "format": "fp32", "threads": 2, "device": device,
               "latency_ms": {"p50": 1.0, "p99": 1.2}}
        path = tmp_path / "bench.json"
        path.write_text(json.dumps({"kind": "edgeprune-bench", "version": 2, "device": device, "results": [row]}))
        return [str(path)]

    with pytest.raises(UserError, match=r"another device than the latency table \(CPU family/model: 25/1 on the "
                                        r"bench, 25/17 on the latency table\)"):
        feedback_points(bench_file(device_info(_cpuinfo_x86(model=1))), lat, "fp32", tmp_path)
    with pytest.raises(UserError, match="records only the CPU's name"):
        feedback_points(bench_file({"cpu": "AMD EPYC", "cores": table_dev["cores"]}), lat, "fp32", tmp_path)
    # the same CPU gets past the device check (to the bundles, of which this workspace has none)
    with pytest.raises(UserError, match="no measured file of this model"):
        feedback_points(bench_file(dict(table_dev, hostname="pi2")), lat, "fp32", tmp_path)


def test_child_harness_turns_every_ending_into_a_result_or_one_line(tmp_path, monkeypatch):
    from edgeprune.device.child import ChildResult, run_worker

    ok = run_worker("json.tool", {"files": [1, 2]}, 60)  # `python -m json.tool SPEC OUT` copies SPEC to OUT
    assert ok.returncode == 0 and ok.json() == {"files": [1, 2]} and not ok.crashed
    missing = run_worker("edgeprune.no_such_worker", {}, 60)
    assert missing.returncode == 1 and missing.json() is None
    assert missing.failure("measuring").startswith("the measuring process failed (exit 1): ")
    assert "No module named" in missing.failure("measuring") and "\n" not in missing.failure("measuring")
    (tmp_path / "hang.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    hung = run_worker("hang", {}, 1)
    assert hung.timed_out and hung.output is None and hung.failure("timing") == "timed out after 1 s"
    assert ChildResult(None, -11, "", 5).failure("x") == "the runtime crashed (SIGSEGV) on this file"
    assert ChildResult(None, -11, "", 5).crashed and not ChildResult(None, 1, "", 5).crashed


def test_csv_append_to_a_file_of_other_columns_is_refused(tmp_path):
    from edgeprune.device.bench import CSV_COLUMNS, check_outputs

    old = tmp_path / "old.csv"
    old.write_text(",".join(CSV_COLUMNS[:-3]) + "\n")  # written before macs, gflops and cpu_id
    with pytest.raises(UserError, match="other columns"):
        check_outputs(None, old, append=True, force=False)
    old.write_text(",".join(CSV_COLUMNS) + "\n")
    check_outputs(None, old, append=True, force=False)


def test_older_bench_rows_read_without_gflops():
    from edgeprune.device.bench import achieved_gflops
    from edgeprune.records import BenchFile

    row = {"model": "m.tflite", "threads": 2, "latency_ms": {"p50": 0.5, "p99": 0.6}, "device": {"cpu": "AMD EPYC"}}
    f = BenchFile.from_dict({"kind": "edgeprune-bench", "version": 2, "results": [row]}, "old.json")
    assert f.results[0].gflops is None and f.results[0].macs is None
    assert achieved_gflops(39_000_000, 0.825) == pytest.approx(94.5, abs=0.1)  # the 32 px study CNN on one Zen 4 core
    assert achieved_gflops(None, 0.8) is None and achieved_gflops(1000, None) is None
