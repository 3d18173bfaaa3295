"""The device side installs and benches in a venv without TensorFlow (`pip install edgeprune`, no extras)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_bench_from_a_runtime_only_venv(tiny_bundle, tmp_path):
    venv = tmp_path / "device-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    names = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True)
    installed = {p["name"].lower() for p in json.loads(names.stdout)}
    assert "ai-edge-litert" in installed and "edgeprune" in installed
    assert not installed & {"tensorflow", "tf-keras", "keras", "tensorflow-model-optimization"}
    out = tmp_path / "b.json"
    proc = subprocess.run([str(venv / "bin" / "edgeprune"), "bench", "--min-time", "0", str(tiny_bundle / "fp32.tflite"),
                           str(tiny_bundle / "int8.tflite"), "--runs", "5", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["results"]
    assert all(r["error"] is None and r["accuracy"] is not None for r in rows)
    assert all(r["runtime"]["name"] == "ai-edge-litert" and not r["tensorflow_imported"] for r in rows)
    # workbench commands say what to install instead of failing with a traceback
    proc = subprocess.run([str(venv / "bin" / "edgeprune"), "train", "--data", "demo", "-w", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "edgeprune[train]" in proc.stderr
