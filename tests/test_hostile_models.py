"""Hostile model files through `import` and the run loader (issue 27): HDF5 external storage (another file's bytes
as weights), a cycle in the layer graph (Keras looped forever), a 100000 px input, NaN weights, a binary model
config, --seed -1, and a --labels file that is another file. Each is a one-line error before any weight is read.
The models are tiny and untrained (tf_keras, built here); the refusals come before the dataset is decoded."""
from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc, write_class_folders

from edgeprune.errors import UserError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from edgeprune.workbench.tf import keras

    base = tmp_path_factory.mktemp("hostile-models")
    i = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(i)
    x = keras.layers.Flatten(name="flat")(x)
    o = keras.layers.Dense(3, activation="softmax", name="head")(x)
    m = keras.Model(i, o)
    m.save(base / "good.keras")
    m.save(base / "good.h5")
    secret = base / "secret.bin"
    secret.write_bytes(np.arange(14 * 14 * 4 * 3, dtype=np.float32).tobytes())  # the head kernel's size
    data = write_class_folders(base / "data", per_class=10)
    return base, secret, data


def _external(f: h5py.File, path: str, secret: Path) -> None:
    """Replace the dataset at ``path`` by one whose bytes HDF5 reads from ``secret``."""
    d = f[path]
    shape, dtype = d.shape, d.dtype
    del f[path]
    f.create_dataset(path, shape=shape, dtype=dtype, external=[(str(secret), 0, h5py.h5f.UNLIMITED)])


def _kernel(f: h5py.File) -> str:
    found = []
    f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and o.shape == (14 * 14 * 4, 3) else None)
    return found[0]


def _rezip(src: Path, dst: Path, change) -> Path:
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    change(files)
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    return dst


def _weights(files: dict, edit) -> None:
    buf = io.BytesIO(files["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        edit(f)
    files["model.weights.h5"] = buf.getvalue()


def _imp(models, model: Path, *extra: str) -> list[str]:
    base, _, data = models
    return ["import", str(model), "--data", str(data), "-w", str(base / "ws"), "--out", model.stem, *extra]


def test_external_storage_is_refused_in_h5_and_keras_files_before_any_weight_is_read(models):
    from edgeprune.workbench.modelio import load_model

    base, secret, _ = models
    h5 = base / "external.h5"
    h5.write_bytes((base / "good.h5").read_bytes())
    with h5py.File(h5, "a") as f:
        _external(f, _kernel(f), secret)
    keras2 = _rezip(base / "good.keras", base / "external.keras",
                    lambda files: _weights(files, lambda f: _external(f, _kernel(f), secret)))

    def as_keras3(files):
        _weights(files, lambda f: _external(f, _kernel(f), secret))
        files["metadata.json"] = json.dumps({"keras_version": "3.5.0"}).encode()
    keras3 = _rezip(base / "good.keras", base / "external3.keras", as_keras3)
    for model in (h5, keras2, keras3):
        assert_user_error(run_inproc(*_imp(models, model)), "another file", str(secret))
        assert not (base / "ws" / model.stem).exists()
    with pytest.raises(UserError, match="another file"):  # a run folder's model.keras: export, prune, probe load so
        load_model(keras2)


def test_a_cycle_in_the_layer_graph_is_refused_at_once(models):
    base, _, _ = models

    def cycle(files):
        cfg = json.loads(files["config.json"])
        conv = next(l for l in cfg["config"]["layers"] if l["name"] == "conv")
        conv["inbound_nodes"] = [[["head", 0, 0, {}]]]
        files["config.json"] = json.dumps(cfg).encode()
    model = _rezip(base / "good.keras", base / "cycle.keras", cycle)
    t0 = time.perf_counter()
    proc = run_cli(*_imp(models, model), timeout=120)  # a process of its own: Keras looped forever on it
    assert_user_error(proc, "cycle")
    assert time.perf_counter() - t0 < 60  # TensorFlow's import included; the check itself is milliseconds


def test_huge_inputs_nan_weights_and_binary_configs_are_one_line_errors(models):
    base, _, _ = models

    def huge(files):
        cfg = json.loads(files["config.json"])
        cfg["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 100000, 100000, 3]
        files["config.json"] = json.dumps(cfg).encode()
    assert_user_error(run_inproc(*_imp(models, _rezip(base / "good.keras", base / "huge.keras", huge))),
                      "larger than edgeprune handles")
    nan = base / "nan.h5"
    nan.write_bytes((base / "good.h5").read_bytes())
    with h5py.File(nan, "a") as f:
        f[_kernel(f)][...] = np.nan
    assert_user_error(run_inproc(*_imp(models, nan)), "non-finite")
    binary = base / "binary.h5"
    binary.write_bytes((base / "good.h5").read_bytes())
    with h5py.File(binary, "a") as f:
        f.attrs["model_config"] = np.frombuffer(b"\x00\x01binary!!", dtype=np.uint8)
    assert_user_error(run_inproc(*_imp(models, binary)), "model_config")


def test_seed_and_labels_options(models, tmp_path):
    base, _, _ = models
    assert_user_error(run_inproc(*_imp(models, base / "good.keras", "--seed", "-1")), "--seed")
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    proc = run_inproc(*_imp(models, base / "good.keras", "--labels", str(other)))
    assert_user_error(proc, "2 line(s), 2 of them not a class")
    assert "root" not in proc.stderr.replace(str(tmp_path), "") and "daemon" not in proc.stderr
