"""Shared fixtures: tiny datasets made on the fly (tests never read ../shared)."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# The decoded-image cache and the list of known dataset folders live in the user's folders; tests (and the commands
# they start, which inherit the environment) use a folder of their own, removed at the end.
_USER_DIRS = Path(tempfile.mkdtemp(prefix="edgeprune-tests-"))
os.environ["EDGEPRUNE_CACHE"] = str(_USER_DIRS / "cache")
os.environ["EDGEPRUNE_CONFIG"] = str(_USER_DIRS / "config")
atexit.register(shutil.rmtree, _USER_DIRS, True)


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


def _shared_root(tmp_path_factory) -> Path:
    """Where the session fixtures below are made once for every pytest process of one `make test`: the folder
    EDGEPRUNE_TEST_SHARED names (the Makefile makes it for both phases, xdist's and Ray's, and removes it), else the
    folder xdist's workers of this run share, else this run's own."""
    if os.environ.get("EDGEPRUNE_TEST_SHARED"):
        return Path(os.environ["EDGEPRUNE_TEST_SHARED"])
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(folder)`` run once across processes, under a lock (fcntl): the first process makes the folder in place
    (its files may name their own paths) and marks it done; the others wait for it. A folder left unmarked by a
    process that failed is made again."""
    import fcntl

    root = _shared_root(tmp_path_factory) / "made-once"
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def _make_tiny_run(folder: Path) -> None:
    from edgeprune.workbench.training.train import TrainOptions, train

    data = write_class_folders(folder / "data", per_class=16)
    train(TrainOptions(data=str(data), image_size=16, widths=[4, 4, 8, 8], dense=8, epochs=4, batch_size=16,
                       lr=3e-3, augment="none", workspace=str(folder / "runs"), out="tiny"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny trained run (16 px, 4-8 channels), trained once for all test processes through the library API; each
    process gets its own copy of the workspace (tests prune into it), reading the one dataset folder."""
    from edgeprune.data.trust import remember
    from edgeprune.workspace import Run

    shared = made_once(tmp_path_factory, "tiny-run", _make_tiny_run)
    ws = tmp_path_factory.mktemp("tiny") / "runs"
    shutil.copytree(shared / "runs", ws)
    remember(shared / "data")  # this process's list of dataset folders (the training process named it in its own)
    return Run(ws / "tiny"), ws


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory):
    """fp32 and int8 files of the tiny run, exported and verified."""
    from edgeprune.workbench.export.bundle import ExportOptions, export

    run, ws = tiny_run
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    res = export(run, ws, ExportOptions(formats=["fp32", "int8"], sparse="off", calib=20, out=str(out)))
    assert not res.failed, res.rows
    return out


@pytest.fixture(scope="session")
def tiny_probe(tiny_run, tmp_path_factory):
    """The latency probe of the tiny run (fp32 segments and variants), made once for all test processes (the
    latency-budget and optimize tests share it); each process reads its own copy."""
    from edgeprune.readers import read_probe
    from edgeprune.workbench.latency_probe import ProbeOptions, probe

    run, ws = tiny_run

    def make(folder):
        probe(run, ws, ProbeOptions(formats=["fp32"], round_to=2, points=2, variants=3, fit_variants=2,
                                    out=str(folder / "p")))

    folder = tmp_path_factory.mktemp("probe") / "p"
    shutil.copytree(made_once(tmp_path_factory, "tiny-probe", make) / "p", folder)
    return folder, read_probe(folder)


def run_inproc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run edgeprune's main() in this process, as `run_cli` does in a new one, for the many calls of the hostile-input
    tests (TensorFlow loads once). Returns the exit code and what was printed, like subprocess.run."""
    import contextlib
    import io

    from edgeprune.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    code = 0
    try:
        sys.argv = ["edgeprune", *args]
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # a crash: what a user would see as a traceback
                import traceback

                err.write("Traceback (in process)\n" + traceback.format_exc())
                code = -1
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def private_run(tiny_run, root: Path) -> tuple[Path, Path]:
    """A copy of the tiny run and of its dataset under ``root``, the copy's split.json pointing at the copied dataset
    (named as a dataset, as `train --data` would), so a test can tamper with both. Returns (workspace, data folder)."""
    from edgeprune.data.trust import remember

    run, _ = tiny_run
    ws, data = root / "ws", root / "data"
    shutil.copytree(run.path, ws / "tiny")
    shutil.copytree(Path(json.loads(run.split.read_text())["root"]), data)
    remember(data)
    rewrite_manifest(ws / "tiny" / "split.json", lambda d: d.update(root=str(data.resolve())))
    return ws, data


def rewrite_manifest(path: Path, change) -> dict:
    """Apply ``change`` to a split.json and store it with a recomputed hash: what anyone editing the file can do."""
    from edgeprune.data.manifest import Manifest

    d = json.loads(path.read_text())
    change(d)
    m = Manifest(root=Path(d["root"]), classes=d["classes"], seed=d["seed"],
                 splits={k: [tuple(i) for i in v] for k, v in d["splits"].items()})
    d["hash"] = m.hash
    path.write_text(json.dumps(d))
    return d


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, size and modification time: equal before and after means untouched."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


SLOW_FIXTURES = {"tiny_run", "tiny_bundle", "tiny_probe", "keras3_files"}  # each trains, exports or saves a model
# (tiny_data only writes a few images: a test that trains on it says so with @pytest.mark.slow)


def pytest_collection_modifyitems(items):
    """Tests that train, prune, export or bench a model are `slow`: `pytest -m "not slow"` runs the rest in seconds.
    Those using a fixture that makes a model are marked here; the others that build or train one mark themselves."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
