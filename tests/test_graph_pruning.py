"""Filter pruning of graphs (issue 23): residual, depthwise, concatenated, squeeze-excite, nested and flattened
models. For each kind of group, removing a channel set gives the outputs that zeroing it gives (fp32, 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest

from edgeprune.errors import UserError
from edgeprune.workbench.graph import channel_graph, groups, widths
from edgeprune.workbench.pruning.filters.plan import FilterPlan, apply, channel_scores, plan_keep
from edgeprune.workbench.pruning.filters.surgery import remove_channels, zero_channels
from edgeprune.workbench.tf import keras

L = keras.layers
SIZE = 12


def _bn(x, name):
    return L.BatchNormalization(name=name)(x)


def residual(projection: bool):
    inp = keras.Input((SIZE, SIZE, 3))
    x = L.ReLU(name="r0")(_bn(L.Conv2D(8, 3, padding="same", name="stem")(inp), "stem_bn"))
    y = L.ReLU(name="r1")(_bn(L.Conv2D(12 if projection else 8, 3, strides=2 if projection else 1, padding="same",
                                       name="conv_a")(x), "bn_a"))
    y = _bn(L.Conv2D(12 if projection else 8, 3, padding="same", name="conv_b")(y), "bn_b")
    sc = _bn(L.Conv2D(12, 1, strides=2, name="shortcut")(x), "bn_sc") if projection else x
    z = L.ReLU(name="r2")(L.Add(name="add")([sc, y]))
    out = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(z))
    return keras.Model(inp, out)


def inverted_residual():
    inp = keras.Input((SIZE, SIZE, 3))
    x = L.ReLU(6.0, name="r0")(_bn(L.Conv2D(8, 3, padding="same", name="stem")(inp), "stem_bn"))
    y = L.ReLU(6.0)(_bn(L.Conv2D(24, 1, name="expand")(x), "expand_bn"))
    y = L.ReLU(6.0)(_bn(L.DepthwiseConv2D(3, padding="same", name="dw")(y), "dw_bn"))
    y = _bn(L.Conv2D(8, 1, name="project")(y), "project_bn")
    z = L.Add(name="add")([x, y])
    out = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(L.Conv2D(10, 1, name="last")(z)))
    return keras.Model(inp, out)


def concatenated():
    inp = keras.Input((SIZE, SIZE, 3))
    a = L.ReLU()(_bn(L.Conv2D(4, 3, padding="same", name="branch_a")(inp), "bn_a"))
    b = L.ReLU()(L.Conv2D(6, 1, name="branch_b")(inp))
    c = L.Concatenate(name="cat")([a, b])
    y = L.MaxPooling2D()(L.Conv2D(5, 3, padding="same", name="after")(c))
    return keras.Model(inp, L.Dense(3, name="head")(L.Flatten()(y)))


def squeeze_excite(dense_gate: bool):
    inp = keras.Input((SIZE, SIZE, 3))
    x = L.Activation("swish")(_bn(L.Conv2D(8, 3, padding="same", name="stem")(inp), "stem_bn"))
    s = L.GlobalAveragePooling2D(name="squeeze")(x)
    if dense_gate:
        s = L.Dense(8, activation="sigmoid", name="se_expand")(L.Dense(3, activation="relu", name="se_reduce")(s))
        s = L.Reshape((1, 1, 8), name="se_shape")(s)
    else:
        s = L.Reshape((1, 1, 8), name="se_shape")(s)
        s = L.Conv2D(3, 1, activation="swish", name="se_reduce")(s)
        s = L.Conv2D(8, 1, activation="sigmoid", name="se_expand")(s)
    x = L.Multiply(name="excite")([x, s])
    x = L.Conv2D(6, 1, name="project")(x)
    return keras.Model(inp, L.Dense(3, name="head")(L.GlobalAveragePooling2D()(x)))


def nested():
    binp = keras.Input((SIZE, SIZE, 3))
    x = L.ReLU()(_bn(L.Conv2D(8, 3, padding="same", name="b_stem")(binp), "b_stem_bn"))
    y = _bn(L.Conv2D(8, 3, padding="same", name="b_conv")(x), "b_conv_bn")
    backbone = keras.Model(binp, L.ReLU()(L.Add()([x, y])), name="backbone")
    inp = keras.Input((SIZE, SIZE, 3))
    h = backbone(L.Rescaling(1 / 255.0, name="rescale")(inp))
    h = L.Dropout(0.2)(L.GlobalAveragePooling2D(name="gap")(h))
    return keras.Model(inp, L.Dense(3, name="head")(L.Dense(6, activation="relu", name="hidden")(h)))


def flatten_dense():
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), L.Conv2D(4, 3, name="conv"), L.BatchNormalization(name="bn"),
                             L.ReLU(), L.MaxPooling2D(), L.Flatten(), L.Dense(6, name="fc"), L.PReLU(name="prelu"),
                             L.Dense(3, name="head")])


KINDS = {"residual": lambda: residual(False), "residual_projection": lambda: residual(True),
         "inverted_residual": inverted_residual, "concatenate": concatenated, "se_conv": lambda: squeeze_excite(False),
         "se_dense": lambda: squeeze_excite(True), "nested": nested, "flatten_dense": flatten_dense}
# the layers whose channels each kind must tie into one group, found by the group of the first
TIED = {"residual": ["stem", "conv_b", "stem_bn", "bn_b"], "residual_projection": ["shortcut", "conv_b", "bn_sc"],
        "inverted_residual": ["stem", "project", "project_bn"], "concatenate": ["branch_a", "bn_a"],
        "se_conv": ["stem", "se_expand", "stem_bn"], "se_dense": ["stem", "se_expand"],
        "nested": ["b_stem", "b_conv", "b_conv_bn", "hidden"], "flatten_dense": ["conv", "bn", "fc"]}


def _randomised(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.submodules:
        if isinstance(layer, L.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.5, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.normal(0, 0.3, layer.beta.shape))
        if isinstance(layer, L.PReLU):
            layer.alpha.assign(rng.uniform(0.1, 0.5, layer.alpha.shape))
    return model


@pytest.mark.parametrize("kind", list(KINDS))
def test_removing_a_channel_set_equals_zeroing_it(kind):
    keras.utils.set_random_seed(1)
    m = _randomised(KINDS[kind]())
    x = np.random.default_rng(2).uniform(0, 255 if kind == "nested" else 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    gs = groups(m)
    members = {g.name: set(g.member_names()) for g in gs}
    assert any(set(TIED[kind]) <= ms for ms in members.values()), members
    rng = np.random.default_rng(3)
    drop = {g.name: np.sort(rng.choice(g.width, max(1, g.width // 3), replace=False)) for g in gs}
    small = remove_channels(m, {n: np.setdiff1d(np.arange(w), drop[n]) for n, w in widths(m).items()})
    zeroed = zero_channels(m, drop)
    want = zeroed(x, training=False).numpy()
    np.testing.assert_allclose(small(x, training=False).numpy(), want, rtol=1e-5, atol=1e-5)
    assert np.abs(want - m(x, training=False).numpy()).max() > 1e-3  # the zeroed channels mattered
    assert small.count_params() < m.count_params()
    assert widths(small) == {n: w - len(drop[n]) for n, w in widths(m).items()}  # same groups, same names


def test_model_inputs_and_outputs_and_broadcasts_are_never_pruned():
    inp = keras.Input((SIZE, SIZE, 3))
    a = L.Conv2D(3, 1, name="same_as_input")(inp)
    s = L.Add()([inp, a])  # ties a's channels to the model's input
    b = L.Conv2D(4, 1, name="free")(s)
    gate = L.Conv2D(1, 1, name="one_channel")(b)
    out = L.Conv2D(2, 1, name="out")(L.Multiply()([b, gate]))  # a 1-channel gate broadcast over b's channels
    m = keras.Model(inp, out)
    cg = channel_graph(m)
    why = {g.name: g.fixed_by for g in cg.groups}
    assert "input" in why["same_as_input"] and "output" in why["out"] and "broadcast" in why["free"]
    with pytest.raises(UserError, match="'free'.*broadcast"):
        remove_channels(m, {"free": np.array([0, 1])})
    assert why["one_channel"] and not cg.prunable()  # the gate's channel meets the broadcast too
    with pytest.raises(UserError, match="no Conv2D.*broadcast"):
        groups(m)


def test_group_importance_is_each_member_normalised_then_summed():
    keras.utils.set_random_seed(4)
    m = residual(False)
    g = next(g for g in groups(m) if "conv_b" in g.producers)
    s = channel_scores(m, "l1", 0)[g.name]
    parts = []
    for name in g.producers:
        k = m.get_layer(name).kernel.numpy()
        v = np.abs(k).reshape(-1, k.shape[-1]).sum(0)
        parts.append(v / v.max())
    np.testing.assert_allclose(s, np.sum(parts, axis=0), rtol=1e-6)
    bn = channel_scores(m, "bn", 0)[g.name]
    gammas = [np.abs(m.get_layer(n).gamma.numpy()) for n in ("stem_bn", "bn_b")]
    np.testing.assert_allclose(bn, sum(x / x.max() for x in gammas), rtol=1e-6)


def test_taylor_scores_follow_the_gradient_and_need_images():
    keras.utils.set_random_seed(5)
    m = flatten_dense()
    x = np.random.default_rng(0).uniform(0, 1, (64, SIZE, SIZE, 3)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 64)
    k = m.get_layer("conv").get_weights()
    k[0][..., 1] = 0.0
    k[1][1] = 0.0
    m.get_layer("conv").set_weights(k)
    bn = m.get_layer("bn")
    bn.set_weights([np.where(np.arange(4) == 1, 0.0, w) if i < 2 else w for i, w in enumerate(bn.get_weights())])
    s = channel_scores(m, "taylor", 0, (x, y))["conv"]
    assert s.shape == (4,) and s[1] == 0.0 and (np.delete(s, 1) > 0).all()  # a dead channel carries no loss
    keep = plan_keep(m, FilterPlan(criterion="taylor", ratio=0.25, images=(x, y)))
    assert 1 not in keep["conv"]
    with pytest.raises(UserError, match="taylor"):
        plan_keep(m, FilterPlan(criterion="taylor", ratio=0.25))


def test_global_scope_and_rounding_on_a_graph():
    keras.utils.set_random_seed(6)
    m = inverted_residual()
    res = apply(m, FilterPlan(ratio=0.5, scope="global", round_to=4))
    kept = {r["name"]: r["channels_kept"] for r in res.summary["groups"]}
    assert all(v % 4 == 0 and v >= 4 for v in kept.values()), kept
    assert res.summary["macs_after"] < res.summary["macs_before"]
    g = next(r for r in res.summary["groups"] if "project" in r["producers"])
    assert {"stem", "project", "dw"} <= set(g["members"]) or {"stem", "project"} <= set(g["members"])
    assert res.model.count_params() < m.count_params()


def test_filter_section_reads_old_files_and_records_groups():
    from edgeprune.records.pruning import FilterSection

    old = {"method": "filter", "layers": [{"layer": "conv1", "filters_before": 8, "filters_kept": 4}]}
    assert FilterSection.from_dict(old, "old").groups is None
    m = residual(True)
    res = apply(m, FilterPlan(ratio=0.5))
    rec = FilterSection.from_dict(res.summary, "new")
    assert rec.groups and all(g.channels_kept <= g.channels_total for g in rec.groups)
    assert FilterSection.from_dict(rec.to_dict(), "again") == rec


@pytest.mark.slow
@pytest.mark.parametrize("app", ["MobileNetV2", "EfficientNetB0", "ResNet50"])  # one test each: xdist spreads them
def test_keras_applications_prune_at_0_3_and_their_fp32_files_agree(app):
    from edgeprune.workbench.export.convert import convert
    from edgeprune.workbench.tf import tf

    x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype(np.float32)
    keras.utils.set_random_seed(0)
    m = getattr(keras.applications, app)(weights=None, input_shape=(32, 32, 3), classes=3, classifier_activation=None)
    res = apply(m, FilterPlan(ratio=0.3, round_to=8))
    assert res.summary["macs_after"] < 0.75 * res.summary["macs_before"]
    want = res.model(x, training=False).numpy()
    it = tf.lite.Interpreter(model_content=convert(res.model, "fp32", False))
    it.resize_tensor_input(it.get_input_details()[0]["index"], x.shape)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    assert agree >= 0.995, agree


@pytest.fixture
def r20_workspace(tmp_path_factory, tmp_path):
    """`train --arch resnet20` on tiny data, run once for the two tests below (they may run on two xdist workers);
    each test prunes into its own copy of the workspace."""
    import json
    import shutil

    from conftest import made_once, run_cli, write_class_folders

    from edgeprune.data.trust import remember

    def make(folder):
        data = write_class_folders(folder / "data")
        proc = run_cli("train", "--data", str(data), "--arch", "resnet20", "--image-size", "16", "--epochs", "1",
                       "--batch-size", "16", "--augment", "none", "--out", "r20", "-w", str(folder / "runs"))
        assert proc.returncode == 0, proc.stderr

    shared = made_once(tmp_path_factory, "r20-run", make)
    ws = tmp_path / "runs"
    shutil.copytree(shared / "runs", ws)
    remember(shared / "data")
    assert json.loads((ws / "r20" / "run.json").read_text())["params"] > 250_000
    return ws


@pytest.mark.slow
def test_resnet20_prunes_with_taylor_steps_and_exports(r20_workspace):
    import json

    from conftest import run_inproc

    ws = r20_workspace
    w = ["-w", str(ws)]
    proc = run_inproc("prune", "r20", "--method", "filter", "--ratio", "0.3", "--criterion", "taylor", "--steps", "2",
                      "--epochs", "2", "--batch-size", "16", "--out", "r20-f30", *w)
    assert proc.returncode == 0, proc.stderr
    f = json.loads((ws / "r20-f30" / "run.json").read_text())["pruning"]["filter"]
    assert f["macs_after"] < 0.75 * f["macs_before"] and len(f["steps"]) == 2
    by = {g["name"]: g for g in f["groups"]}
    stage2 = next(g for g in by.values() if "stage2_block1_short_conv" in g["producers"])
    assert len(stage2["producers"]) == 4 and stage2["channels_kept"] < stage2["channels_total"] == 32
    proc = run_inproc("export", "r20-f30", "--formats", "fp32", *w)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((ws / "exports" / "r20-f30" / "export.json").read_text())["files"]
    assert rows and all(r["agreement"] >= 0.995 for r in rows)


@pytest.mark.slow
def test_resnet20_probe_and_prune_to_a_latency_budget(r20_workspace, tmp_path):
    """The latency budget on the graph: probe, a table of a known law, prune --target-ms to it."""
    import json

    from conftest import run_inproc
    from test_latency_budget import synthetic_table

    from edgeprune.latency.model import LatencyModel, median_abs_error
    from edgeprune.readers import read_latency_table
    from edgeprune.workbench.latency_probe import ProbeOptions, probe
    from edgeprune.workspace import Run

    ws = r20_workspace
    folder, man = probe(Run(ws / "r20"), ws, ProbeOptions(formats=["fp32"], round_to=32, points=2, variants=1,
                                                          fit_variants=1, out=str(tmp_path / "probe")))
    assert len(man.segments) == 22  # 21 convolutions (19 + 2 shortcuts) and the classifier
    assert all((folder / "files" / f.file).is_file() for f in man.files)
    lat = LatencyModel(read_latency_table(synthetic_table(man, tmp_path / "t.json")), "fp32")
    assert median_abs_error(lat.check()) < 1e-9
    target = round(0.6 * lat.predict(lat.widths), 4)
    proc = run_inproc("prune", "r20", "--method", "filter", "--target-ms", str(target), "--latency-table",
                      str(tmp_path / "t.json"), "--threads", "2", "--epochs", "1", "--batch-size", "16",
                      "--out", "r20-budget", "-w", str(ws))
    assert proc.returncode == 0, proc.stderr
    b = json.loads((ws / "r20-budget" / "run.json").read_text())["pruning"]["filter"]["latency_budget"]
    assert b["predicted_ms"] <= target and lat.predict(b["widths"]) == pytest.approx(b["predicted_ms"])
    assert sum(b["widths"].values()) < sum(lat.widths.values())


def test_sensitivity_is_per_group_and_its_ratios_prune_the_graph():
    from types import SimpleNamespace

    from edgeprune.records import SensitivityRecord
    from edgeprune.workbench.pruning.sensitivity import analyse, choose_ratios

    keras.utils.set_random_seed(7)
    m = residual(True)
    rng = np.random.default_rng(0)
    split = lambda n: SimpleNamespace(x=rng.uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32),  # noqa: E731
                                      y=rng.integers(0, 3, n))
    res = analyse(m, {"train": split(16), "val": split(16)}, "taylor", ratios=(0.5,), recal_images=16)
    assert set(res["layers"]) == set(widths(m)) and res["widths"] == widths(m)
    sens = SensitivityRecord.from_dict({"kind": "edgeprune-sensitivity", **res}, "sens")
    ratios = choose_ratios(sens, m, max_drop=1.0)
    assert ratios == {n: 0.5 for n in widths(m)}
    small = apply(m, FilterPlan(ratio=0.0, per_layer=ratios)).model
    assert all(w == (n + 1) // 2 for w, n in zip(widths(small).values(), widths(m).values()))


def test_a_nested_model_called_twice_is_refused_in_one_line():
    binp = keras.Input((SIZE, SIZE, 3))
    inner = keras.Model(binp, L.Conv2D(3, 1, name="inner_conv")(binp), name="twice")
    inp = keras.Input((SIZE, SIZE, 3))
    m = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(4, 1, name="c")(inner(inner(inp))))))
    with pytest.raises(UserError, match="'twice'") as e:
        groups(m)
    assert "\n" not in str(e.value)


def test_the_latency_probe_cuts_a_graph_into_one_segment_per_layer():
    """Each convolution or dense layer is a segment at its real input, its input width the group that feeds it and
    its output width its own group's; a depthwise layer's two are one group; the model's input and output stay."""
    from edgeprune.workbench.latency_probe import pieces, segment_model, variant_model

    keras.utils.set_random_seed(0)
    m = inverted_residual()
    ps = {p.segment.name: p for p in pieces(m)}
    assert list(ps) == ["stem", "expand", "dw", "project", "last", "head"]
    g = {n: next(x.name for x in groups(m) if n in x.producers) for n in ("stem", "expand", "last")}
    seg = {n: p.segment for n, p in ps.items()}
    assert seg["stem"].cin_from is None and seg["stem"].cin_full == 3 and seg["stem"].producer == g["stem"]
    assert seg["expand"].cin_from == g["stem"] and seg["expand"].producer == g["expand"]
    assert seg["dw"].cin_from is None and seg["dw"].producer == g["expand"] and ps["dw"].tied
    assert seg["project"].cin_from == g["expand"] and seg["project"].producer == g["stem"]  # tied by the Add
    assert seg["head"].cin_from == g["last"] and seg["head"].producer is None and seg["head"].cout_full == 3
    assert [l.name for l in ps["expand"].layers][:2] == ["expand", "expand_bn"]  # BN and ReLU6 ride along
    assert ps["stem"].first and ps["head"].last and not ps["project"].first
    for name, cin, cout in (("expand", 4, 16), ("dw", 24, 8), ("head", 6, 3)):
        sm = segment_model(m, ps[name], cin, cout)
        want_in = cout if ps[name].tied else cin
        assert sm.input_shape[-1] == want_in and sm.output_shape[-1] == cout, name
    assert ps["dw"].input_hw == (SIZE, SIZE) and ps["head"].input_hw == ()
    small = variant_model(m, {g["stem"]: 4, g["expand"]: 8, g["last"]: 6})
    assert widths(small) == {g["stem"]: 4, g["expand"]: 8, g["last"]: 6}
    # behind a Flatten, each channel of the group is H x W inputs of the dense layer
    f = {p.segment.name: p for p in pieces(concatenated())}
    assert f["head"].cin_mult == (SIZE // 2) ** 2 and f["head"].segment.cin_from == "after"
    assert f["after"].segment.cin_from is None  # two groups concatenated: its input width is held fixed
    sm = segment_model(concatenated(), f["head"], 2, 3)
    assert sm.input_shape[-1] == 2 * (SIZE // 2) ** 2
