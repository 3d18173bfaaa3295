"""Filter pruning: surgery correctness, criteria, scopes, sensitivity, hybrid, and refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc

from edgeprune.errors import UserError
from edgeprune.workbench.metrics.macs import count_macs, params_from_shapes
from edgeprune.workbench.pruning.filters.plan import FilterPlan, apply, plan_keep
from edgeprune.workbench.pruning.filters.surgery import (
    flatten_rows,
    remove_channels,
    zero_channels,
)
from edgeprune.workbench.tf import keras
from edgeprune.workbench.training.models import build_cnn


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    m = build_cnn(3, 16, [6, 6, 8, 8], 10)
    x = np.random.default_rng(seed).integers(0, 256, (32, 16, 16, 3)).astype(np.float32)
    m(x, training=True)  # move BN statistics away from their defaults
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.default_rng(1).normal(0, 0.5, layer.moving_mean.shape))
            layer.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 2, layer.moving_variance.shape))
    return m, x


def test_ratio_zero_keeps_outputs_identical():
    m, x = _model()
    res = apply(m, FilterPlan(ratio=0.0))
    np.testing.assert_allclose(res.model(x, training=False).numpy(), m(x, training=False).numpy(), rtol=1e-6, atol=1e-7)
    assert res.summary["params_after"] == res.summary["params_before"]


@pytest.mark.parametrize("where", ["conv", "flatten_dense", "hidden_dense"])
def test_zeroing_equals_removing(where):
    m, x = _model()
    layer = {"conv": "conv3", "flatten_dense": "conv4", "hidden_dense": "fc1"}[where]
    n = m.get_layer(layer).kernel.shape[-1]
    drop = np.array([0, n // 2, n - 1])
    keep = np.setdiff1d(np.arange(n), drop)
    small = remove_channels(m, {layer: keep})
    zeroed = zero_channels(m, {layer: drop})
    np.testing.assert_allclose(small(x, training=False).numpy(), zeroed(x, training=False).numpy(), rtol=1e-5, atol=1e-6)
    assert small.get_layer(layer).kernel.shape[-1] == len(keep)


def test_flatten_rows_follow_row_column_channel_order():
    rows = flatten_rows(np.array([2, 0]), 2, 2, 3)
    assert rows.tolist() == [0, 2, 3, 5, 6, 8, 9, 11]


def test_params_match_the_shapes_and_macs_fall():
    m, _ = _model()
    res = apply(m, FilterPlan(ratio=0.5))
    assert res.model.count_params() == params_from_shapes(res.model) == res.summary["params_after"]
    assert res.summary["params_after"] <= 0.55 * res.summary["params_before"]
    assert count_macs(res.model) < 0.4 * count_macs(m)


def test_criteria_differ_and_global_scope_respects_floor_and_rounding():
    m, _ = _model()
    k_l1 = plan_keep(m, FilterPlan(ratio=0.5, criterion="l1"))
    k_rand = plan_keep(m, FilterPlan(ratio=0.5, criterion="random"))
    assert any(not np.array_equal(k_l1[n], k_rand[n]) for n in k_l1)
    kern = m.get_layer("conv1").kernel.numpy()
    l1 = np.abs(kern).reshape(-1, kern.shape[-1]).sum(0)
    assert set(k_l1["conv1"]) == set(np.argsort(-l1)[:3])  # keeps the largest-norm filters
    g = plan_keep(m, FilterPlan(ratio=0.9, scope="global", round_to=2))
    for idx in g.values():
        assert len(idx) >= 2 and len(idx) % 2 == 0  # a floor, never emptied, multiples of 2
    total = sum(m.get_layer(n).kernel.shape[-1] for n in g)
    assert sum(len(v) for v in g.values()) < 0.5 * total


def test_a_layer_without_a_rule_is_fixed_and_named_when_pruning_it_is_asked_for():
    from edgeprune.workbench.graph import groups

    L = keras.layers
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", name="c1")(inp)
    b = L.Conv2D(4, 3, padding="same", name="c2")(L.LayerNormalization(name="odd_norm")(a))
    m = keras.Model(inp, L.Dense(2)(L.Flatten()(b)))
    assert [g.producer for g in groups(m)] == ["c2"]  # c1's channels reach a layer without a rule: never removed
    with pytest.raises(UserError, match=r"'c1'.*'odd_norm' \(LayerNormalization\)") as e:
        remove_channels(m, {"c1": np.array([0, 1])})
    assert "\n" not in str(e.value)
    only = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, name="c1"), L.LayerNormalization(name="odd_norm"),
                             L.Flatten(), L.Dense(2)])
    with pytest.raises(UserError, match="odd_norm"):
        apply(only, FilterPlan(ratio=0.3))


def test_filter_prune_cli_sensitivity_and_hybrid(tiny_run, tmp_path):
    run, ws = tiny_run
    w = ["-w", str(ws)]
    proc = run_cli("prune", "tiny", "--method", "filter", "--ratio", "0.5", "--epochs", "2", "--batch-size", "16",
                   "--out", "f50", "--control", *w)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((ws / "f50" / "run.json").read_text())
    f = info["pruning"]["filter"]
    assert f["params_after"] <= 0.55 * f["params_before"] and f["macs_after"] < f["macs_before"]
    assert [r["filters_kept"] for r in f["layers"]] == [2, 2, 4, 4, 4]
    assert "control" in info and "vs_control" in info
    sens = tmp_path / "sens.json"
    proc = run_inproc("sensitivity", "tiny", "--ratios", "0.25,0.5,0.75", "--out", str(sens), *w)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(sens.read_text())
    assert set(s["layers"]) == {"conv1", "conv2", "conv3", "conv4", "fc1"} and len(s["layers"]["conv1"]["val_accuracy"]) == 3
    assert sens.with_suffix(".csv").is_file()
    proc = run_inproc("prune", "tiny", "--method", "filter", "--sensitivity", str(sens), "--max-drop", "1.0",
                   "--epochs", "1", "--batch-size", "16", "--out", "fsens", *w)
    assert proc.returncode == 0, proc.stderr
    chosen = json.loads((ws / "fsens" / "run.json").read_text())["pruning"]["filter"]["per_layer_ratios"]
    assert chosen == {n: 0.75 for n in s["layers"]}  # max-drop 1.0 accepts every ratio: the largest is taken
    proc = run_inproc("prune", "tiny", "--method", "hybrid", "--ratio", "0.5", "--sparsity", "0.6", "--epochs", "2",
                   "--batch-size", "16", "--out", "hyb", *w)
    assert proc.returncode == 0, proc.stderr
    h = json.loads((ws / "hyb" / "run.json").read_text())["pruning"]
    assert "filter" in h and "weight" in h and h["weight"]["sparsity"] >= 0.59
    # a sensitivity file from another model is refused
    s["widths"]["conv1"] = 99
    (tmp_path / "other.json").write_text(json.dumps(s))
    assert_user_error(run_inproc("prune", "tiny", "--method", "filter", "--sensitivity", str(tmp_path / "other.json"),
                              "--out", "x", *w), "another model")
    assert not (ws / "x").exists()


@pytest.mark.parametrize("criterion", ["l2", "bn"])
def test_l2_and_bn_criteria_choose_the_filters_their_scores_rank_highest(criterion):
    m, _ = _model()
    keep = plan_keep(m, FilterPlan(criterion=criterion, ratio=0.5))
    for name, kept in keep.items():
        layer = m.get_layer(name)
        k = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        if criterion == "l2":
            scores = np.sqrt((k ** 2).sum(axis=0))
        else:  # |gamma| of the BatchNorm after the layer
            bn = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3", "conv4": "bn4", "fc1": "bn_fc1"}[name]
            scores = np.abs(m.get_layer(bn).gamma.numpy())
        expected = np.sort(np.argsort(-scores, kind="stable")[: len(kept)])
        assert kept.tolist() == expected.tolist(), name
        assert len(kept) == len(scores) // 2


def test_sensitivity_selection_with_a_limit_that_binds():
    from edgeprune.records import SensitivityRecord
    from edgeprune.workbench.graph import groups
    from edgeprune.workbench.pruning.sensitivity import choose_ratios

    m, _ = _model()
    names = [g.producer for g in groups(m)]
    widths = {n: int(m.get_layer(n).kernel.shape[-1]) for n in names}
    drops = {n: [0.0, 0.01, 0.05] for n in names}
    drops[names[0]] = [0.03, 0.04, 0.2]  # too sensitive at every ratio: kept whole
    sens = SensitivityRecord.from_dict({
        "kind": "edgeprune-sensitivity", "baseline_val_accuracy": 0.9, "ratios": [0.1, 0.3, 0.5], "widths": widths,
        "layers": {n: {"val_accuracy": [0.9 - d for d in ds], "drop": ds} for n, ds in drops.items()}}, "sens")
    chosen = choose_ratios(sens, m, max_drop=0.02)
    assert chosen[names[0]] == 0.0 and all(chosen[n] == 0.3 for n in names[1:])  # 0.5 drops 5 points: over the limit
    assert all(v == 0.5 for v in choose_ratios(sens, m, max_drop=0.25).values())
