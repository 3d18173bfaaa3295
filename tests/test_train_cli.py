"""`edgeprune train` through the command line: a tiny run, user errors, and resume after a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import TINY_MODEL, assert_user_error, run_cli, run_inproc, write_class_folders


@pytest.mark.slow
def test_tiny_training_run_writes_a_complete_run(tmp_path, tiny_data):
    ws = tmp_path / "runs"
    proc = run_cli("train", "--data", str(tiny_data), *TINY_MODEL, "--epochs", "3", "-w", str(ws), "--out", "r1", "-q")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((ws / "r1" / "run.json").read_text())
    for key in ("classes", "image_size", "params", "val_accuracy", "test_accuracy", "epochs_run", "history",
                "seconds", "split_hash", "bn_recalibration"):
        assert key in info, key
    assert info["classes"] == ["a", "b", "c"] and info["image_size"] == 16 and info["epochs_run"] == 3
    assert len(info["history"]["val_loss"]) == 3
    assert info["bn_recalibration"]["layers"] == 5
    assert info["bn_recalibration"]["val_accuracy_before"] is not None
    split = json.loads((ws / "r1" / "split.json").read_text())
    assert split["hash"] == info["split_hash"]
    assert not list(ws.glob(".*.partial")) and not (ws / "r1" / "ckpt").exists()
    # the same name again is refused without --force, and the run is untouched
    before = (ws / "r1" / "model.keras").stat().st_mtime_ns
    proc = run_cli("train", "--data", str(tiny_data), *TINY_MODEL, "--epochs", "1", "-w", str(ws), "--out", "r1")
    assert_user_error(proc, "already exists", "--force")
    assert (ws / "r1" / "model.keras").stat().st_mtime_ns == before


def test_user_errors_are_one_line_with_exit_2(tmp_path):
    ws = tmp_path / "runs"
    assert_user_error(run_cli("train", "--data", str(tmp_path / "nope"), "-w", str(ws)), "not found")
    (tmp_path / "empty").mkdir()
    assert_user_error(run_inproc("train", "--data", str(tmp_path / "empty"), "-w", str(ws)), "class folder")
    one = write_class_folders(tmp_path / "one", classes=("x",), per_class=3)
    assert_user_error(run_inproc("train", "--data", str(one), "-w", str(ws)), "at least two")
    assert_user_error(run_inproc("train", "--widths", "8,8,8", "-w", str(ws)), "even number")
    assert_user_error(run_inproc("data", "inspect", str(tmp_path / "nope")), "not found")
    assert not ws.exists() or not any(p for p in ws.iterdir() if not p.name.startswith("."))


@pytest.mark.slow
def test_resume_after_kill(tmp_path, tiny_data):
    ws = tmp_path / "runs"
    args = ["train", "--data", str(tiny_data), *TINY_MODEL, "--epochs", "40", "--patience", "0", "-w", str(ws),
            "--out", "r2", "-q"]
    # SIGKILL at a point the test chooses (right after epoch 2's checkpoint), not a race against the training
    env = {**os.environ, "EDGEPRUNE_TEST_KILL_AT_EPOCH": "2"}
    proc = subprocess.run([sys.executable, "-m", "edgeprune", *args], capture_output=True, timeout=300, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    state = ws / ".r2.partial" / "ckpt" / "state.json"
    killed = json.loads(state.read_text())
    assert killed["epoch"] == 2
    assert not (ws / "r2").exists()  # nothing half-written in place of the run
    again = run_cli("train", "--resume", "--out", "r2", "-w", str(ws), "-q")
    assert again.returncode == 0, again.stderr
    info = json.loads((ws / "r2" / "run.json").read_text())
    assert info["resumed"] is True and info["epochs_run"] == 40
    assert len(info["history"]["loss"]) == 40
    assert info["seconds"] > killed["seconds"] > 0  # time before the kill is counted
    assert not (ws / ".r2.partial").exists()


@pytest.mark.slow
def test_transfer_baselines_build_without_weights():
    import numpy as np
    import pytest

    from edgeprune.errors import UserError
    from edgeprune.workbench.training.models import BN_MOMENTUM, build

    for arch in ("mobilenetv2", "efficientnetb0"):
        m = build(arch, 3, 32, weights="none")
        assert m(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 3)
        # from scratch, BatchNorm follows the weights as fast as edgeprune's own models' (Keras' 0.99-0.999 leaves a
        # short run scoring chance at evaluation), and the saved config keeps it
        bns = [lay for lay in m.get_layer(index=2 if arch == "mobilenetv2" else 1).layers
               if lay.__class__.__name__ == "BatchNormalization"]
        assert bns and {b.momentum for b in bns} == {BN_MOMENTUM}
        assert {b.get_config()["momentum"] for b in bns} == {BN_MOMENTUM}
    with pytest.raises(UserError, match="weights"):
        build("mobilenetv2", 3, 32, weights="resnet")
    with pytest.raises(UserError, match="unknown --arch"):
        build("vgg", 3, 32)


@pytest.mark.slow
def test_the_same_seed_trains_the_same_model(tmp_path, tiny_data):
    """--seed fixes the split, the initial weights and the augmentation's random stream: two runs of one command give
    the same weights (a study that spans sessions retrains its parent and needs it to be the same model), and another
    seed does not."""
    import numpy as np

    from edgeprune.workbench.modelio import load_model

    ws = tmp_path / "runs"
    model = [a for a in TINY_MODEL if a not in ("--augment", "none")]
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        proc = run_inproc("train", "--data", str(tiny_data), *model, "--augment", "light", "--epochs", "2",
                          "--seed", seed, "-w", str(ws), "--out", name, "-q")
        assert proc.returncode == 0, proc.stderr
    w = {n: load_model(ws / n / "model.keras").get_weights() for n in "abc"}
    assert all(np.array_equal(x, y) for x, y in zip(w["a"], w["b"]))
    assert not all(np.array_equal(x, y) for x, y in zip(w["a"], w["c"]))
