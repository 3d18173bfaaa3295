"""Recovery after pruning (issue 14): distillation from the parent, gradual filter removal, the cosine schedule,
and paired comparisons against the control."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from conftest import TINY_MODEL, assert_user_error, rewrite_manifest, run_inproc

from edgeprune.errors import UserError
from edgeprune.paired_accuracy import compare, mcnemar_exact, pack, paired_difference, unpack


# --- pure: the arithmetic ---------------------------------------------------------------------------------------
def test_cosine_rate_warms_up_then_decays_to_zero():
    from edgeprune.workbench.training.lr_schedule import cosine_rate

    total, lr = 100, 1e-3
    rates = [cosine_rate(s, total, lr, 0.1) for s in range(total)]
    assert rates[0] == pytest.approx(lr / 10)  # step 1 of a 10-step warm-up
    assert rates[9] == pytest.approx(lr)  # the peak is the given rate
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))  # then never rises
    assert rates[-1] < 0.01 * lr
    assert cosine_rate(55, total, lr, 0.1) == pytest.approx(lr / 2)  # half-way through the decay
    assert cosine_rate(0, total, lr, 0.0) == pytest.approx(lr)  # no warm-up


def test_gradual_steps_land_on_the_one_shot_widths():
    from edgeprune.workbench.pruning.filters.gradual import step_epochs, step_plan
    from edgeprune.workbench.pruning.filters.plan import FilterPlan, layer_floor, round_width

    plan = FilterPlan(ratio=0.5, round_to=1)
    original = {"a": 32, "b": 64}
    current = dict(original)
    seen = []
    for k in (1, 2, 3):
        p = step_plan(plan, original, current, k, 3)
        current = {n: round_width(w * (1 - p.per_layer[n]), w, 1, layer_floor(w, 1)) for n, w in current.items()}
        seen.append(dict(current))
    assert seen[0] == {"a": 27, "b": 54} and seen[1] == {"a": 22, "b": 43}  # ceil(32 * 5/6), ceil(64 * 2/3)
    one_shot = {n: round_width(w * 0.5, w, 1, layer_floor(w, 1)) for n, w in original.items()}
    assert seen[-1] == one_shot == {"a": 16, "b": 32}
    g = step_plan(FilterPlan(ratio=0.6, scope="global"), original, original, 2, 3)
    assert g.ratio == pytest.approx(1 - 0.6 / 0.8)  # removes the share of what is left that brings the total to 0.4
    assert step_epochs(10, 3) == [3, 3, 4] and sum(step_epochs(7, 7)) == 7


def test_paired_difference_and_mcnemar():
    a = np.array([1, 1, 1, 0, 1, 0, 1, 1] * 50, bool)
    b = a.copy()
    b[:40:8] = False  # b misses 5 images a gets right
    d = paired_difference(a, b)
    assert d.diff == pytest.approx(5 / 400) and (d.only_a, d.only_b) == (5, 0)
    assert d.mcnemar_p == pytest.approx(2 / 32)  # exact binomial: 2 * 0.5**5
    unpaired = math.sqrt(a.mean() * (1 - a.mean()) / 400 + b.mean() * (1 - b.mean()) / 400)
    assert d.se < unpaired / 3  # models that agree on most images: the paired error is far smaller
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert compare(pack(a), pack(b)).diff == pytest.approx(d.diff)
    assert compare(pack(a), pack(b[:-1])) is None  # scored on other images: no paired comparison
    assert (unpack(pack(a)) == a).all() and len(unpack(pack(a[:13]))) == 13
    for bad in ("x", "10:!!", "100:AAAA", "-1:"):
        with pytest.raises(UserError):
            unpack(bad)


def test_distillation_loss_is_zero_for_the_teacher_itself_and_grows_with_disagreement():
    from edgeprune.workbench.training.distillation import distillation_loss

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    q = np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], np.float32)
    assert float(distillation_loss(p, p, 4.0)) == pytest.approx(0.0, abs=1e-6)
    near, far = float(distillation_loss(p, (p + q) / 2, 4.0)), float(distillation_loss(p, q, 4.0))
    assert 0 < near < far


# --- options that cannot work are refused before anything is loaded --------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--method", "none", "--scratch"], "keeps the parent's"),
    (["--method", "filter", "--ratio", "0.5", "--scratch", "--scratch-budget", "days"], "--scratch-budget"),
    (["--method", "filter", "--ratio", "0.5", "--lr-schedule", "backwards"], "--lr-schedule"),
    (["--method", "weight", "--sparsity", "0.5", "--steps", "2"], "--steps applies to filter"),
    (["--method", "filter", "--ratio", "0.5", "--steps", "5", "--epochs", "3"], "--steps 5 needs"),
    (["--method", "filter", "--ratio", "0.5", "--distill", "--distill-alpha", "1"], "--distill-alpha"),
    (["--method", "filter", "--ratio", "0.5", "--distill", "--temperature", "nan"], "--temperature"),
    (["--method", "filter", "--ratio", "0.5", "--lr-schedule", "step"], "--lr-schedule"),
    (["--method", "filter", "--ratio", "0.5", "--teacher", "big"], "pass --distill too"),
    (["--method", "filter", "--ratio", "0.5", "--lr-schedule", "cosine", "--warmup", "1.5"], "--warmup"),
])
def test_bad_recovery_options_are_refused_before_loading(args, needle, tmp_path):
    """Parsed by the real command line, refused before any run is looked for (the workspace is empty)."""
    assert_user_error(run_inproc("prune", *args, "-w", str(tmp_path / "empty")), needle)
    assert not (tmp_path / "empty").exists()


# --- the whole recipe on a tiny model ----------------------------------------------------------------------------
def test_prune_with_distillation_steps_and_cosine_records_everything(tiny_run, tmp_path):
    run, ws = tiny_run
    proc = run_inproc("prune", str(run.path), "--method", "filter", "--ratio", "0.5", "--steps", "2", "--epochs", "4",
                      "--patience", "0", "--distill", "--distill-alpha", "0.3", "--temperature", "2",
                      "--lr-schedule", "cosine", "--warmup", "0.1", "--lr", "3e-3", "--batch-size", "16", "--control",
                      "-w", str(tmp_path), "--out", "kd")
    assert proc.returncode == 0, proc.stderr
    assert "paired s.e." in proc.stdout
    info = json.loads((tmp_path / "kd" / "run.json").read_text())
    o = info["options"]
    assert (o["distill"], o["distill_alpha"], o["temperature"], o["lr_schedule"], o["steps"]) == (True, 0.3, 2.0, "cosine", 2)
    steps = info["pruning"]["filter"]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["params"] > steps[1]["params"] == info["params"]
    assert steps[0]["epochs_run"] == 2  # the epochs are split between the cuts ...
    assert info["epochs_run"] == 4 == info["control"]["epochs_run"]  # ... and total what the control gets
    kept = {r["layer"]: (r["filters_before"], r["filters_kept"]) for r in info["pruning"]["filter"]["layers"]}
    assert kept["conv1"] == (4, 2) and kept["conv3"] == (8, 4)  # widths against the original model
    lr = info["history"]["lr"]
    assert lr[-1] < lr[0] / 5  # the cosine schedule decays within the last fine-tuning
    n = len(json.loads((run.path / "split.json").read_text())["splits"]["test"])
    paired = info["vs_control"]["test_paired"]
    assert paired["n"] == n and paired["diff"] == pytest.approx(info["vs_control"]["test_accuracy"])
    assert unpack(info["test_correct"]).mean() == pytest.approx(info["test_accuracy"])
    assert unpack(info["parent"]["test_correct"]).mean() == pytest.approx(info["parent"]["test_accuracy"])


def test_distillation_moves_the_student_toward_the_teacher(tiny_run):
    """With alpha 0 the labels are ignored: fitting must lower the student's divergence from the teacher."""
    from edgeprune.data.arrays import SplitArrays
    from edgeprune.workbench.metrics.evaluate import predict
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.training.distillation import DistillSettings, distillation_loss
    from edgeprune.workbench.training.fit import FitConfig, fit
    from edgeprune.workbench.training.models import build_cnn

    run, _ = tiny_run
    teacher = load_model(run.model)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (64, 16, 16, 3)).astype(np.uint8)
    y = rng.integers(0, 3, 64).astype(np.int32)  # random labels: only the teacher carries information
    t = predict(teacher, x)
    data = {"train": SplitArrays(x, y), "val": SplitArrays(x, np.argmax(t, axis=1).astype(np.int32))}
    divergence = {}
    from edgeprune.workbench.tf import keras

    for kd in (False, True):
        keras.utils.set_random_seed(0)  # the same start for both students: the test compares what fitting did
        student = build_cnn(3, 16, [4, 4, 8, 8], 8)
        divergence["start"] = float(distillation_loss(t, predict(student, x), 2.0))
        cfg = FitConfig(epochs=20, batch_size=16, lr=1e-2, patience=0, augment="none",
                        distill=DistillSettings(alpha=0.0, temperature=2.0) if kd else None)
        fit(student, data, cfg, teacher=teacher if kd else None)
        divergence[kd] = float(distillation_loss(t, predict(student, x), 2.0))
    assert divergence[True] < 0.8 * divergence["start"], divergence
    assert divergence[True] < divergence[False], divergence  # the labels alone do not teach the teacher's outputs


def test_weight_pruning_distils_through_tfmot_wrappers(tiny_run, tmp_path):
    run, _ = tiny_run
    refused = run_inproc("prune", str(run.path), "--method", "weight", "--sparsity", "0.5", "--steps", "2",
                         "-w", str(tmp_path))
    assert_user_error(refused, "--steps applies to filter")
    assert not any(tmp_path.iterdir())
    proc = run_inproc("prune", str(run.path), "--method", "weight", "--sparsity", "0.5", "--epochs", "3", "--distill",
                      "--teacher", str(run.path), *TINY_MODEL[-4:], "-w", str(tmp_path), "--out", "w-kd")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "w-kd" / "run.json").read_text())
    assert info["options"]["distill"] is True and info["sparsity"] >= 0.49  # the schedule still reached its target
    d = info["distillation"]
    assert d["teacher"] == run.name and d["teacher_test_accuracy"] == pytest.approx(info["parent"]["test_accuracy"], abs=1e-9)
    # a teacher that has seen other images (another split of the data) could have trained on this test set: refused
    other = tmp_path / "other-split"
    shutil.copytree(run.path, other)
    def swap(m):  # one training image becomes a test image, and back
        m["splits"]["train"][0], m["splits"]["test"][0] = m["splits"]["test"][0], m["splits"]["train"][0]

    rewrite_manifest(other / "split.json", swap)
    meta = json.loads((other / "run.json").read_text())
    meta["split_hash"] = json.loads((other / "split.json").read_text())["hash"]
    (other / "run.json").write_text(json.dumps(meta))
    refused = run_inproc("prune", str(run.path), "--method", "weight", "--sparsity", "0.5", "--epochs", "3", "--distill",
                         "--teacher", str(other), "-w", str(tmp_path), "--out", "w-kd2")
    assert_user_error(refused, "another split")
    assert not (tmp_path / "w-kd2").exists()


def test_scratch_budget_is_the_lineages_compute_in_epochs_of_the_small_model():
    from edgeprune.workbench.pruning.scratch import scratch_budget

    # Scratch-B: parent 10 epochs at 1000 MACs per image, fine-tuned 4 epochs at 300: 11,200 MACs = 37.3 small epochs
    b = scratch_budget("flops", 10, 1000, 4, 300)
    assert (b.epochs, b.lineage_macs, b.macs_spent) == (38, 11200, 38 * 300)
    assert scratch_budget("epochs", 10, 1000, 4, 300).epochs == 10  # Scratch-E: the parent's epochs
    assert scratch_budget("flops", 10, 1000, 0, 1000).epochs == 10  # nothing removed: the parent's own budget
    with pytest.raises(UserError, match="imported"):
        scratch_budget("flops", None, 1000, 4, 300)


def test_rewind_replays_the_parents_rates_or_compresses_them():
    from edgeprune.workbench.training.lr_schedule import rewind_rates

    parent = [1e-3, 1e-3, 5e-4, 2.5e-4]
    assert rewind_rates(parent, 6) == ([1e-3, 1e-3, 5e-4, 2.5e-4, 2.5e-4, 2.5e-4], "replayed")
    assert rewind_rates(parent, 2) == ([1e-3, 5e-4], "compressed")  # epoch i at the same fraction of the parent's
    with pytest.raises(UserError, match="recorded none"):
        rewind_rates([], 3)


def test_a_later_fit_continues_the_rewound_schedule():
    from edgeprune.workbench.training.fit import FitConfig

    cfg = FitConfig(epochs=6, lr_schedule="rewind", rates=[6e-3, 5e-3, 4e-3, 3e-3, 2e-3, 1e-3])
    assert cfg.window(2, 2).rates == [4e-3, 3e-3] and cfg.window(2, 2).epochs == 2  # the second of three cuts
    assert cfg.window(4, 2).rates == [2e-3, 1e-3]  # what is left after the cuts
    assert cfg.window(6, 2).rates == [1e-3]  # past the end: the last rate held
    assert FitConfig(epochs=4).window(1, 2).rates is None  # other schedules carry no rates


def test_a_weight_pruned_models_twin_trains_its_sparse_structure(tiny_run, tmp_path):
    """Weight pruning keeps the architecture: its twin is the pruned model's zeros, from random weights, held at zero
    through training (Liu et al.'s sparse scratch), at the lineage's compute (dense MACs: the zeros cost as much)."""
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.pruning.scratch import KeepMasks, apply_masks, sparsity_masks, twin
    from edgeprune.workbench.training.fit import FitConfig, fit
    from edgeprune.workspace import resolve_run

    run, ws = tiny_run
    out = tmp_path / "ws"
    proc = run_inproc("prune", str(run.path), "--method", "weight", "--sparsity", "0.75", "--epochs", "2",
                      "--batch-size", "16", "--scratch", "-w", str(out), "--out", "w75", "-q")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "w75" / "run.json").read_text())
    sc = info["scratch"]
    assert sc["sparse_layers"] == sorted(info["pruning"]["weight"]["pruned_layers"])
    assert sc["sparsity"] >= info["pruning"]["weight"]["sparsity"] - 1e-9  # the twin kept every zero
    assert sc["epochs_budget"] == run.info.epochs_run + info["epochs_run"]  # flops at dense MACs: parent's + fine-tuning
    assert info["vs_scratch"]["test_paired"] is not None
    # the mask is the pruned model's zeros, and training does not grow them back
    pruned = load_model(resolve_run("w75", out).model)
    masks = sparsity_masks(pruned, info["pruning"]["weight"]["pruned_layers"])
    fresh = twin(pruned)
    apply_masks(fresh, masks)
    rng = np.random.default_rng(0)
    from edgeprune.data.arrays import SplitArrays
    x = rng.integers(0, 255, (32, *pruned.input_shape[1:])).astype(np.uint8)
    y = rng.integers(0, pruned.output_shape[-1], 32).astype(np.int32)
    fit(fresh, {"train": SplitArrays(x, y), "val": SplitArrays(x, y)}, FitConfig(epochs=1, batch_size=8, patience=0),
        callbacks=[KeepMasks(masks)])
    for name, mask in masks.items():
        kernel = fresh.get_layer(name).get_weights()[0]
        assert (kernel[mask == 0] == 0).all() and (kernel[mask == 1] != 0).mean() > 0.9, name


def test_scratch_twin_and_rewind_through_prune(tiny_run, tmp_path):
    """The twin has the pruned widths and the budget the arithmetic gives; rewind replays the parent's rates; a
    parent without recorded rates is a one-line error."""
    import shutil

    from edgeprune.workbench.pruning.scratch import scratch_budget, twin
    from edgeprune.workbench.modelio import load_model
    from edgeprune.workspace import resolve_run

    run, ws = tiny_run
    out = tmp_path / "ws"
    proc = run_inproc("prune", str(run.path), "--method", "filter", "--ratio", "0.5", "--epochs", "2",
                      "--batch-size", "16", "--lr-schedule", "rewind", "--scratch", "--scratch-budget", "epochs",
                      "-w", str(out), "--out", "f50", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "scratch twin" in proc.stdout and "pruned minus scratch" in proc.stdout
    info = json.loads((out / "f50" / "run.json").read_text())
    parent = run.info
    # rewind: the pruned model's fine-tuning ran at the parent's first rates (4 parent epochs compressed into 2)
    assert info["lr_rewind"]["mode"] == "compressed"
    assert info["lr_rewind"]["rates"] == [parent.history["lr"][0], parent.history["lr"][2]]
    assert info["history"]["lr"] == pytest.approx(info["lr_rewind"]["rates"][:len(info["history"]["lr"])])
    sc = info["scratch"]
    want = scratch_budget("epochs", parent.epochs_run, parent.macs, info["epochs_run"], info["macs"])
    assert sc["epochs_budget"] == want.epochs == parent.epochs_run and sc["epochs_run"] == want.epochs  # no early stop
    # the record says which of the twin's epochs was kept: its history has every epoch, the best is the lowest val_loss
    assert len(sc["history"]["val_loss"]) == want.epochs
    # the twin's rate spans its budget: cosine from the parent's rate, not halved on a stall into disuse
    assert sc["lr_schedule"] == "cosine" and max(sc["history"]["lr"]) <= sc["lr"] * (1 + 1e-6)
    assert sc["history"]["lr"][-1] < 0.5 * max(sc["history"]["lr"])
    losses = np.asarray(sc["history"]["val_loss"])  # Plateau counts an improvement of more than 1e-6 only
    assert sc["best_epoch"] == int(np.flatnonzero(losses <= losses.min() + 1e-6)[0]) + 1
    assert sc["macs_spent"] == want.epochs * info["macs"]
    assert info["vs_scratch"]["test_paired"] is not None
    assert abs(info["vs_scratch"]["test_accuracy"] - (info["test_accuracy"] - sc["test_accuracy"])) < 1e-9
    # the twin is the pruned architecture, freshly initialised
    pruned = load_model(resolve_run("f50", out).model)
    fresh = twin(pruned)
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in pruned.get_weights()]
    assert any(not np.allclose(a, b) for a, b in zip(fresh.get_weights(), pruned.get_weights()))
    # a parent whose run.json records no rates (as an imported model): rewind is refused in one line
    bare = tmp_path / "bare"
    shutil.copytree(run.path, bare / "tiny")
    rj = json.loads((bare / "tiny" / "run.json").read_text())
    rj["history"] = {}
    (bare / "tiny" / "run.json").write_text(json.dumps(rj))
    assert_user_error(run_inproc("prune", str(bare / "tiny"), "--method", "filter", "--ratio", "0.5", "--epochs", "2",
                                 "--lr-schedule", "rewind", "-w", str(tmp_path / "ws2")), "records none")
    # a pruned parent's records are its fine-tuning's: scratch and rewind take the trained run
    assert_user_error(run_inproc("prune", str(out / "f50"), "--method", "filter", "--ratio", "0.3", "--epochs", "2",
                                 "--scratch", "-w", str(tmp_path / "ws3")), "itself a pruned run")
