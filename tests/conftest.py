"""Shared fixtures: tiny datasets made on the fly (tests never read ../shared)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def write_class_folders(root: Path, classes=("a", "b", "c"), per_class=12, size=16, seed=0) -> Path:
    """A folder of class folders whose classes differ by colour, so a tiny model can learn them."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.zeros((size, size, 3), np.float32)
            base[..., k % 3] = 180
            img = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{i:03d}.jpg", quality=90)
    return root


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    return write_class_folders(tmp_path / "data")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m edgeprune ARGS` in a fresh process, as a user would."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "edgeprune", *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout)


TINY_MODEL = ["--image-size", "16", "--widths", "4,4,8,8", "--dense", "8", "--augment", "none", "--lr", "3e-3",
              "--batch-size", "16"]


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """A user error: exit code 2, a one-line message, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert lines, proc.stdout
    err = lines[-1]  # warnings about other files may come first; the error itself is one line, last
    assert err.startswith("error:"), proc.stderr
    assert sum(1 for l in lines if l.startswith("error:")) == 1
    for n in needles:
        assert n.lower() in err.lower(), (n, err)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny trained run (16 px, 4-8 channels), made once per test session through the library API."""
    from edgeprune.workbench.train import TrainOptions, train

    base = tmp_path_factory.mktemp("tiny")
    data = write_class_folders(base / "data", per_class=16)
    ws = base / "runs"
    opts = TrainOptions(data=str(data), image_size=16, widths=[4, 4, 8, 8], dense=8, epochs=4, batch_size=16,
                        lr=3e-3, augment="none", workspace=str(ws), out="tiny")
    run = train(opts)
    return run, ws


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory):
    """fp32 and int8 files of the tiny run, exported and verified."""
    from edgeprune.workbench.export import ExportOptions, export

    run, ws = tiny_run
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    res = export(run, ws, ExportOptions(formats=["fp32", "int8"], sparse="off", calib=20, out=str(out)))
    assert not res.failed, res.rows
    return out
