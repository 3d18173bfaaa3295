"""Weight pruning: schedule arithmetic on tiny data, the measured-sparsity check, the control, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc

from edgeprune.errors import UserError
from edgeprune.workbench.pruning.schedule import plan_schedule


@pytest.mark.parametrize("n_train, batch, epochs", [(20, 16, 3), (256, 64, 30), (27000, 64, 30), (5, 64, 3), (64, 64, 3)])
def test_schedule_reaches_the_target_inside_the_run(n_train, batch, epochs):
    p = plan_schedule(n_train, batch, epochs, 0.8, 0.3)
    total = p.steps_per_epoch * epochs
    assert p.end_step <= p.prune_epochs * p.steps_per_epoch - 1 < total  # ends inside the pruning window
    assert (p.end_step - p.begin_step) % p.frequency == 0  # tfmot really updates the mask at end_step
    assert p.frequency <= max(1, p.steps_per_epoch)  # at least one update per epoch, never tfmot's 100 on small data
    assert p.prune_epochs <= epochs


def test_schedule_masks_reach_target_with_tfmot_semantics():
    """Replay tfmot's rule (prune at s when begin <= s <= end and (s - begin) % f == 0) over the run's steps."""
    from edgeprune.workbench.pruning.schedule import make_schedule
    from edgeprune.workbench.tf import tf

    for n in (20, 100, 1000):
        p = plan_schedule(n, 16, 4, 0.7, 0.3)
        sched = make_schedule(p)
        last = 0.0
        for step in range(p.steps_per_epoch * p.prune_epochs):
            update, sparsity = sched(tf.constant(step, tf.int64))
            if bool(update):
                last = float(sparsity)
        assert last == pytest.approx(0.7), (n, p)


@pytest.mark.parametrize("n_train, batch, epochs", [(5, 64, 1), (64, 64, 2), (20, 64, 1)])
def test_a_schedule_of_one_step_is_refused_up_front(n_train, batch, epochs):
    # tfmot 0.8.1 never updates the mask when the pruning window is step 0 alone: sparsity stayed 0 (measured)
    with pytest.raises(UserError, match="too few steps for the pruning schedule"):
        plan_schedule(n_train, batch, epochs, 0.8, 0.3)


def test_bad_schedule_options():
    with pytest.raises(UserError, match="between 0 and 1"):
        plan_schedule(100, 10, 3, 1.2)
    with pytest.raises(UserError, match="initial-sparsity"):
        plan_schedule(100, 10, 3, 0.5, 0.7)


def test_weight_prune_cli_measures_sparsity_and_control(tiny_run, tmp_path):
    run, ws = tiny_run
    proc = run_cli("prune", "tiny", "--method", "weight", "--sparsity", "0.8", "--epochs", "3", "--lr", "1e-3",
                   "--batch-size", "16", "--control", "--out", "w80", "-w", str(ws))
    assert proc.returncode == 0, proc.stderr
    assert "measured sparsity" in proc.stdout and "control" in proc.stdout
    info = json.loads((ws / "w80" / "run.json").read_text())
    w = info["pruning"]["weight"]
    assert w["sparsity"] >= 0.79 and info["sparsity"] == w["sparsity"]
    assert {"sparsity_all", "nonzero_params", "params", "layers"} <= set(w)
    assert w["nonzero_params"] < 0.3 * w["params"]
    # the figures are measured from the saved model, not copied from the schedule
    from edgeprune.workbench.modelio import load_model

    m = load_model(ws / "w80" / "model.keras")
    kernels = [l.kernel.numpy() for l in m.layers if hasattr(l, "kernel")]
    zeros = sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)
    assert zeros == pytest.approx(w["sparsity"], abs=1e-6)
    assert {"val_accuracy", "test_accuracy", "epochs_run"} <= set(info["control"])
    assert info["vs_control"]["test_accuracy"] == pytest.approx(info["test_accuracy"] - info["control"]["test_accuracy"])
    # 3 epochs and patience 5: neither stops early, so both fine-tune exactly the epochs asked for
    assert info["control"]["epochs_run"] == info["epochs_run"] == 3
    assert json.loads((ws / "w80" / "split.json").read_text())["hash"] == run.info.split_hash


def test_shortfall_in_measured_sparsity_fails_and_writes_nothing(tiny_run, monkeypatch):
    from edgeprune import pruner as pr
    from edgeprune.options.prune import PruneOptions
    from edgeprune.workbench.pruning.impl import weight

    run, ws = tiny_run
    real = weight.sparsity_report

    def short(model, names):
        rep = real(model, names)
        rep["sparsity"] -= 0.05  # as if tfmot had left part of the model unpruned
        return rep

    monkeypatch.setattr(weight, "sparsity_report", short)
    with pytest.raises(UserError, match="below the target"):
        pr.prune(run, ws, PruneOptions(method="weight", sparsity=0.5, epochs=1, batch_size=16, out="short"))
    assert not (ws / "short").exists()  # no model that is not what was asked


def test_skip_first_and_last_keep_layers_dense(tiny_run):
    from edgeprune import pruner as pr
    from edgeprune.options.prune import PruneOptions

    run, ws = tiny_run
    new = pr.prune(run, ws, PruneOptions(method="weight", sparsity=0.6, epochs=2, batch_size=16, lr=1e-3,
                                            skip_first=True, skip_last=True, out="skips", schedule="constant"))
    rows = {r["layer"]: r for r in new.info.pruning.weight.layers}
    assert not rows["conv1"]["pruned"] and rows["conv1"]["sparsity"] < 0.05
    assert not rows["classifier"]["pruned"] and rows["classifier"]["sparsity"] < 0.05
    assert rows["conv2"]["sparsity"] >= 0.59


def test_prune_bad_input(tiny_run, tmp_path):
    run, ws = tiny_run
    w = ["-w", str(ws)]
    assert_user_error(run_cli("prune", "tiny", "--method", "weight", "--sparsity", "1.5", *w), "between 0 and 1")
    assert_user_error(run_inproc("prune", "tiny", "--method", "weight", "--sparsity", "0.5", "--initial-sparsity", "0.7", *w), "initial-sparsity")
    assert_user_error(run_inproc("prune", "nope", "--method", "weight", "--sparsity", "0.5", *w), "run not found")
    assert_user_error(run_inproc("prune", "--method", "weight", "--sparsity", "0.5", "-w", str(tmp_path / "empty")), "no finished run")
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--ratio", "1.0", *w), "ratio")
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--ratio", "0.3", "--criterion", "hessian", *w), "criterion")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("run.json", "split.json"):
        (bad / f).write_bytes((run.path / f).read_bytes())
    (bad / "model.keras").write_text("hello")
    assert_user_error(run_inproc("prune", str(bad), "--method", "weight", "--sparsity", "0.5", *w), "not a Keras model")
    names = {p.name for p in ws.iterdir()}
    assert not any(n.startswith(".") and n.endswith(".partial") for n in names)


def test_model_without_prunable_layers_is_refused():
    from edgeprune.workbench.pruning.sparsity import select_layers
    from edgeprune.workbench.tf import keras

    m = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Softmax()])
    with pytest.raises(UserError, match="no Conv2D or Dense"):
        select_layers(m)


def test_cluster_keeps_sparsity_and_limits_distinct_values(tiny_run):
    from edgeprune import pruner as pr
    from edgeprune.options.prune import PruneOptions

    run, ws = tiny_run
    new = pr.prune(run, ws, PruneOptions(method="weight", sparsity=0.5, epochs=2, batch_size=16, lr=1e-3,
                                            cluster=4, out="clustered"))
    c = new.info.pruning.clustering
    assert c["clusters"] == 4
    assert all(1 < n <= 4 + 1 for n in c["distinct_values_per_kernel"].values())  # 4 centroids (+ the kept zeros)
    assert new.info.pruning.weight.sparsity >= 0.49  # clustering preserved the zeros
