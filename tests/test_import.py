"""`edgeprune import`: models trained elsewhere (real Keras 3 files, made in a subprocess without
TF_USE_LEGACY_KERAS, and a tf.keras .h5) through import -> prune -> export -> bench, and the refusals."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import assert_user_error, run_inproc, write_class_folders

KERAS3_FILES = textwrap.dedent(r"""
    import json, sys
    from pathlib import Path
    import numpy as np
    from PIL import Image
    import keras

    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    files = sorted(p for p in data.rglob("*.jpg"))
    classes = sorted({p.parent.name for p in files})
    x = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in files]) / 255.0
    y = np.array([classes.index(p.parent.name) for p in files])
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    r = keras.layers.DepthwiseConv2D(3, padding="same")(h)
    r = keras.layers.BatchNormalization()(r)
    h = keras.layers.Add()([h, r])
    h = keras.layers.Conv2D(8, 1, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    o = keras.layers.Dense(len(classes), activation="softmax", name="head")(h)
    m = keras.Model(inp, o)
    m.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=8, batch_size=16, verbose=0)
    m.save(out / "residual.keras")
    np.save(out / "residual_probs.npy", m.predict(x, verbose=0))
    (out / "files.json").write_text(json.dumps([p.relative_to(data).as_posix() for p in files]))

    def save(name, layers):
        keras.Sequential([keras.Input((16, 16, 3)), *layers]).save(out / name)

    save("lambda.keras", [keras.layers.Lambda(lambda t: t * 2), keras.layers.Flatten(), keras.layers.Dense(3)])
    save("permute.keras", [keras.layers.Permute((2, 1, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    save("four.keras", [keras.layers.Flatten(), keras.layers.Dense(4)])

    @keras.saving.register_keras_serializable(package="Mine")
    class Twice(keras.layers.Layer):
        def call(self, t):
            return t * 2

    save("custom.keras", [Twice(), keras.layers.Flatten(), keras.layers.Dense(3)])
    print("keras", keras.__version__)
""")


@pytest.fixture(scope="module")
def keras3_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("keras3")
    data = write_class_folders(base / "data", per_class=20, size=16)
    out = base / "files"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", KERAS3_FILES, str(data), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras 3." in proc.stdout  # made by the real Keras 3, not tf_keras
    return data, out


def test_a_keras3_model_through_import_prune_export_bench(keras3_files, tmp_path):
    from edgeprune.device.bench import BenchOptions, bench
    from edgeprune.workbench.metrics.evaluate import predict
    from edgeprune.workspace import resolve_run

    data, files = keras3_files
    ws = tmp_path / "ws"
    proc = run_inproc("import", str(files / "residual.keras"), "--data", str(data), "--preprocess", "rescale",
                      "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    run = resolve_run("residual", ws)
    info = run.info
    assert info.kind == "import" and info.source["format"] == "keras3" and info.image_size == 16
    # the rebuilt model, with the [0, 1] scaling folded in, gives Keras 3's outputs on raw pixels
    from edgeprune.data.arrays import load_split_arrays
    from edgeprune.data.manifest import Manifest
    from edgeprune.workbench.modelio import load_model

    manifest = Manifest.load(run.split)
    arrays = load_split_arrays(manifest, 16)
    names = json.loads((files / "files.json").read_text())
    k3 = np.load(files / "residual_probs.npy")
    mine = predict(load_model(run.model), arrays["test"].x)
    theirs = k3[[names.index(p) for p in manifest.paths("test")]]
    assert np.abs(mine - theirs).max() < 1e-4
    assert np.mean(mine.argmax(1) == theirs.argmax(1)) >= 0.995
    assert info.test_accuracy > 0.6  # it learned the colours: the import scores what Keras 3 trained
    # prune (weight: the residual and depthwise graph is fine for it) -> export -> bench
    proc = run_inproc("prune", "residual", "--method", "weight", "--sparsity", "0.5", "--epochs", "2",
                      "--batch-size", "16", "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    pruned = resolve_run("residual-w50", ws)
    assert pruned.info.pruning.weight.sparsity >= 0.49
    proc = run_inproc("export", "residual-w50", "--formats", "fp32,int8", "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    rows = {r["file"]: r for r in json.loads((ws / "exports" / "residual-w50" / "export.json").read_text())["files"]}
    assert rows["fp32.tflite"]["agreement"] >= 0.995 and rows["fp32.tflite"]["kept"]
    res = bench([ws / "exports" / "residual-w50" / "fp32.tflite"], BenchOptions(rounds=1, min_time_s=0,
                                                                                runs=3, warmup=0))
    assert res.rows[0].error is None and res.rows[0].accuracy == pytest.approx(rows["fp32.tflite"]["accuracy"])
    # filter pruning of the imported residual, depthwise graph removes channels by groups (issue 23)
    proc = run_inproc("prune", "residual", "--method", "filter", "--ratio", "0.5", "--epochs", "1", "--batch-size", "16",
                      "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    f = json.loads((ws / "residual-f50" / "run.json").read_text())["pruning"]["filter"]
    assert f["params_after"] < f["params_before"] and f["groups"]


@pytest.mark.slow
def test_a_tf_keras_h5_through_import_prune_export_bench(tmp_path):
    from edgeprune.device.bench import BenchOptions, bench
    from edgeprune.workbench.tf import keras

    data = write_class_folders(tmp_path / "data", per_class=16, size=16)
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255.0),
                          keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(),
                          keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(np.random.rand(16, 16, 16, 3) * 255, np.arange(16) % 3, epochs=1, verbose=0)
    m.save(tmp_path / "mine.h5")
    ws = tmp_path / "ws"
    proc = run_inproc("import", str(tmp_path / "mine.h5"), "--data", str(data), "--preprocess", "none",
                      "-w", str(ws), "--out", "h5run", "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((ws / "h5run" / "run.json").read_text())["source"]["format"] == "h5"
    assert run_inproc("prune", "h5run", "--method", "weight", "--sparsity", "0.6", "--epochs", "2", "--batch-size",
                      "16", "-w", str(ws), "-q").returncode == 0
    proc = run_inproc("export", "h5run-w60", "--formats", "fp32", "--out", str(tmp_path / "b"), "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    row = json.loads((tmp_path / "b" / "export.json").read_text())["files"][0]
    assert row["agreement"] >= 0.995
    assert bench([tmp_path / "b" / row["file"]], BenchOptions(rounds=1, min_time_s=0,
                                                              runs=3, warmup=0)).rows[0].error is None


@pytest.mark.parametrize("name, needle", [("lambda.keras", "Lambda"), ("permute.keras", "Permute"),
                                          ("custom.keras", "Twice"), ("four.keras", "4 outputs")])
def test_imports_that_are_refused(keras3_files, tmp_path, name, needle):
    data, files = keras3_files
    ws = tmp_path / "ws"
    assert_user_error(run_inproc("import", str(files / name), "--data", str(data), "-w", str(ws)), needle)
    assert not ws.exists() or not [p for p in ws.iterdir() if not p.name.startswith(".")]


def test_labels_name_the_outputs_in_order(keras3_files, tmp_path):
    data, files = keras3_files
    ws = tmp_path / "ws"
    (tmp_path / "labels.txt").write_text("c\nb\na\n")
    proc = run_inproc("import", str(files / "residual.keras"), "--data", str(data), "--labels",
                      str(tmp_path / "labels.txt"), "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((ws / "residual" / "run.json").read_text())
    assert info["classes"] == ["c", "b", "a"] and info["source"]["labels"] == ["c", "b", "a"]
    assert info["test_accuracy"] < 0.6  # the outputs really were taken in the order given (here a wrong one)
    (tmp_path / "bad.txt").write_text("a\nb\n")
    assert_user_error(run_inproc("import", str(files / "residual.keras"), "--data", str(data), "--labels",
                                 str(tmp_path / "bad.txt"), "-w", str(ws), "--out", "x"), "each class")
    assert_user_error(run_inproc("import", str(files / "residual.keras"), "--data", str(data), "--preprocess", "zscore",
                                 "-w", str(ws), "--out", "y"), "--preprocess")
    assert_user_error(run_inproc("import", str(tmp_path / "labels.txt"), "--data", str(data), "-w", str(ws)), ".keras")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_grayscale_model_imports_with_a_luma_layer_and_prunes(tmp_path, kind):
    """A model of (H, W, 1) images (a public cats-and-dogs CNN of 60x60x1 was refused): the run takes RGB like every
    other, and gives the original model's outputs on the images' gray values."""
    from PIL import Image

    from edgeprune.workbench.modelio import load_model
    from edgeprune.workbench.tf import keras

    data = write_class_folders(tmp_path / "data", per_class=16, size=16)
    keras.utils.set_random_seed(2)
    body = [keras.layers.Rescaling(1 / 255.0), keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax")]
    if kind == "sequential":
        m = keras.Sequential([keras.Input((16, 16, 1)), *body])
    else:
        x = inp = keras.Input((16, 16, 1))
        for layer in body:
            x = layer(x)
        m = keras.Model(inp, x)
    files = sorted(data.rglob("*.jpg"))
    gray = np.stack([np.asarray(Image.open(p).convert("L"), np.float32)[..., None] for p in files])
    y = np.array([["a", "b", "c"].index(p.parent.name) for p in files])
    m.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    m.fit(gray, y, epochs=15, batch_size=16, verbose=0)
    m.save(tmp_path / "gray.h5")
    ws = tmp_path / "ws"
    proc = run_inproc("import", str(tmp_path / "gray.h5"), "--data", str(data), "--preprocess", "none",
                      "-w", str(ws), "--out", "g", "-q")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((ws / "g" / "run.json").read_text())
    assert info["source"]["input_channels"] == 1 and info["test_accuracy"] > 0.6
    run_model = load_model(ws / "g" / "model.keras")
    assert run_model.input_shape == (None, 16, 16, 3)
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in files])
    luma = (rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    np.testing.assert_allclose(run_model.predict(rgb, verbose=0), m.predict(luma, verbose=0), atol=1e-5)
    # Pillow rounds its gray values; the luma layer does not: the same predictions all but everywhere
    assert (run_model.predict(rgb, verbose=0).argmax(1) == m.predict(gray, verbose=0).argmax(1)).mean() >= 0.95
    assert run_inproc("prune", "g", "--method", "filter", "--ratio", "0.5", "--epochs", "1", "--batch-size", "16",
                      "-w", str(ws), "-q").returncode == 0
    pruned = json.loads((ws / "g-f50" / "run.json").read_text())["pruning"]["filter"]
    kept = {g["name"]: (g["channels_kept"], g["channels_total"]) for g in pruned["groups"]}
    assert pruned["params_after"] < pruned["params_before"] and kept["c1"][0] < kept["c1"][1]
    assert "edgeprune_grayscale" not in kept  # the luma layer is no group: its channel is never removed
    proc = run_inproc("export", "g-f50", "--formats", "fp32", "--out", str(tmp_path / "b"), "-w", str(ws), "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "b" / "export.json").read_text())["files"][0]["agreement"] >= 0.995
    if kind != "sequential":
        return
    assert run_inproc("prune", "g", "--method", "weight", "--sparsity", "0.8", "--epochs", "1", "--batch-size", "16",
                      "-w", str(ws), "-q").returncode == 0
    thinned = load_model(ws / "g-w80" / "model.keras")
    luma = [w for w in thinned.weights if "edgeprune_grayscale" in w.name and "kernel" in w.name]
    np.testing.assert_allclose(luma[0].numpy().ravel(), [0.299, 0.587, 0.114], rtol=1e-6)  # weight pruning left it
    assert_user_error(run_inproc("import", str(tmp_path / "gray.h5"), "--data", str(data), "--preprocess",
                                 "imagenet", "-w", str(ws), "--out", "g2"), "grayscale")
