"""Untrusted model archives, .npz files and returned folders, read with bounds before anything loads (issue 27):
HDF5 external storage, virtual datasets and links; zip and npz bombs; cycles and missing layers in a config; huge
inputs and parameter counts; non-finite weights; sparse tar members; a damaged worker JSON; an escaped run name.
Files are built in the test, tiny; nothing here needs TensorFlow except where a model file is saved by tf_keras."""
from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from edgeprune import safe_files as sf
from edgeprune.errors import UserError

SECRET = b"secret bytes of another file\n" * 8


# --- HDF5 ----------------------------------------------------------------------------------------------------------

def _h5(path: Path, build) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        g = f.create_group("model_weights/dense")
        g.create_dataset("kernel:0", data=np.ones((2, 3), np.float32))
        build(f)
    return path


def test_hdf5_objects_that_read_outside_the_file_are_refused(tmp_path):
    other = tmp_path / "elsewhere.bin"
    other.write_bytes(SECRET)
    (tmp_path / "ext.h5").write_bytes(b"")
    cases = {
        "external storage": lambda f: f.create_dataset("model_weights/dense/bias:0", shape=(16,), dtype="u1",
                                                       external=[(str(other), 0, h5py.h5f.UNLIMITED)]),
        "soft link": lambda f: f.__setitem__("model_weights/link", h5py.SoftLink("/model_weights/dense")),
        "external link": lambda f: f.__setitem__("model_weights/ext", h5py.ExternalLink(str(tmp_path / "ext.h5"), "/")),
        "virtual": lambda f: f.create_virtual_dataset("model_weights/v", _layout(tmp_path)),
        "nan": lambda f: f.create_dataset("model_weights/dense/bias:0", data=np.array([1, np.nan, 2], np.float32)),
        "inf scalar": lambda f: f.create_dataset("optimizer_weights/lr", data=np.float64(np.inf)),
        "objects": lambda f: f.create_dataset("model_weights/s", data=["a", "bc"], dtype=h5py.string_dtype()),
    }
    needles = {"external storage": "another file", "soft link": "SoftLink", "external link": "link to another file",
               "virtual": "virtual", "nan": "non-finite", "inf scalar": "non-finite", "objects": "not numbers"}
    for name, build in cases.items():
        path = _h5(tmp_path / f"{name.replace(' ', '_')}.h5", build)
        with pytest.raises(UserError, match=needles[name]):
            sf.check_h5(path, str(path))
        with pytest.raises(UserError, match=needles[name]):  # the same bytes inside a .keras archive
            sf.check_h5(io.BytesIO(path.read_bytes()), "model.weights.h5")
    good = _h5(tmp_path / "good.h5", lambda f: None)
    s = sf.check_h5(good, "good", root_attrs=("model_config",))
    assert s.values == 6 and "model_config" in s.attrs


def _layout(tmp_path: Path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("d", data=np.arange(4, dtype=np.float32))
    layout = h5py.VirtualLayout(shape=(4,), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(src), "d", shape=(4,))
    return layout


def test_h5_model_config_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "bin.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = np.arange(5)
    with pytest.raises(UserError, match="not JSON text"):
        sf.h5_model_config(path)
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = np.void(b"\xff\xfe\x00binary")
    with pytest.raises(UserError, match="model_config"):
        sf.h5_model_config(path)


# --- zip -------------------------------------------------------------------------------------------------------------

def _forge_size(path: Path, member: str, size: int) -> None:
    """Make the central directory (and local header) claim ``size`` expanded bytes for ``member``: what a bomb's
    headers say, without writing the bomb."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    cd = data.find(b"PK\x01\x02" + bytes(0))
    while cd != -1:
        n = struct.unpack_from("<H", data, cd + 28)[0]
        if data[cd + 46: cd + 46 + n] == name:
            struct.pack_into("<I", data, cd + 24, size)
            local = struct.unpack_from("<I", data, cd + 42)[0]
            struct.pack_into("<I", data, local + 22, size)
        cd = data.find(b"PK\x01\x02", cd + 4)
    path.write_bytes(bytes(data))


def _keras_zip(path: Path, members: dict[str, bytes], compress=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for n, b in members.items():
            z.writestr(n, b)
    return path


def test_zip_bombs_are_refused_from_the_central_directory(tmp_path):
    cfg = json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()
    forged = _keras_zip(tmp_path / "forged.keras", {"metadata.json": b"{}", "config.json": cfg})
    _forge_size(forged, "config.json", 0xFFFFFFF0)  # 4 GiB of spaces, says the directory
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="config.json.*declares 4.0 GiB"):
        sf.read_keras_archive(forged)
    # a member that expands 1000x: 8 MiB of spaces in 8 kB
    ratio = _keras_zip(tmp_path / "ratio.keras", {"config.json": cfg, "model.weights.h5": b" " * (8 << 20)},
                       zipfile.ZIP_DEFLATED)
    with pytest.raises(UserError, match="compression bomb"):
        sf.read_keras_archive(ratio)
    assert time.perf_counter() - t0 < 2
    stray = _keras_zip(tmp_path / "stray.keras", {"config.json": cfg, "../x": b"1"})
    with pytest.raises(UserError, match="outside the archive"):
        sf.read_keras_archive(stray)
    assets = _keras_zip(tmp_path / "assets.keras", {"config.json": cfg, "notes.txt": b"1"})
    with pytest.raises(UserError, match="not part of a Keras model"):
        sf.read_keras_archive(assets)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(30):
            z.writestr(f"{i}", b"")
    with pytest.raises(UserError, match="30 members"):
        sf.check_zip(zipfile.ZipFile(many), "many", max_members=20)
    # a member whose directory claims fewer bytes than it holds is read no further than that
    liar = _keras_zip(tmp_path / "liar.keras", {"config.json": cfg + b" " * 4096})
    _forge_size(liar, "config.json", len(cfg))
    with pytest.raises(UserError):
        sf.read_keras_archive(liar)


# --- .npz ------------------------------------------------------------------------------------------------------------

def _npz_with_header(path: Path, shape: tuple, payload: bytes = b"") -> Path:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue() + payload)  # the header writes the magic too
        buf = io.BytesIO()
        np.save(buf, np.zeros(2, np.int64))
        z.writestr("y.npy", buf.getvalue())
    return path


def test_npz_arrays_are_bounded_by_their_header_before_reading(tmp_path):
    from edgeprune.device.testdata import load_npz

    bomb = _npz_with_header(tmp_path / "bomb.npz", (2_800_000, 32, 32, 3))  # 8.6 GB of images, says the header
    with pytest.raises(UserError, match="array 'x' of shape"):
        load_npz(bomb)
    small = _npz_with_header(tmp_path / "small.npz", (2, 4, 4, 3), bytes(96))
    x, y = load_npz(small)
    assert x.shape == (2, 4, 4, 3) and y.shape == (2,)
    with pytest.raises(UserError, match="more than the"):
        sf.load_npz(small, ("x",), max_array=64)
    forged = _npz_with_header(tmp_path / "forged.npz", (2, 4, 4, 3), bytes(96))
    _forge_size(forged, "x.npy", 3 << 30)
    with pytest.raises(UserError, match="declares 3.0 GiB"):
        load_npz(forged)


# --- the layer graph, input size and parameter count, from the config as data --------------------------------------

def _functional(layers: list, inputs="in", outputs="out") -> dict:
    return {"class_name": "Functional", "config": {"name": "m", "layers": layers, "input_layers": [[inputs, 0, 0]],
                                                   "output_layers": [[outputs, 0, 0]]}}


def _layer(cls: str, name: str, frm: str | None, **cfg) -> dict:
    return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
            "inbound_nodes": [[[frm, 0, 0, {}]]] if frm else []}


def _chain(side=16, units=3, conv_from="in") -> dict:
    return _functional([
        _layer("InputLayer", "in", None, batch_input_shape=[None, side, side, 3]),
        _layer("Conv2D", "conv", conv_from, filters=4, kernel_size=[3, 3], padding="same"),
        _layer("Flatten", "flat", "conv"),
        _layer("Dense", "out", "flat", units=units),
    ])


def test_layer_graphs_with_a_cycle_or_a_missing_layer_are_refused_at_once():
    est = sf.check_model_config(_chain(), "ok")
    assert est.params == 3 * 3 * 3 * 4 + 4 + 16 * 16 * 4 * 3 + 3 and est.input_shape == (16, 16, 3)
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="cycle"):
        sf.check_model_config(_chain(conv_from="out"), "cycle")
    with pytest.raises(UserError, match="'nowhere', which is not a layer"):
        sf.check_model_config(_chain(conv_from="nowhere"), "missing")
    keras3 = _chain()  # the Keras 3 form of a reference
    keras3["config"]["layers"][1]["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
        "keras_history": ["out", 0, 0]}}], "kwargs": {}}]
    with pytest.raises(UserError, match="cycle"):
        sf.check_model_config(keras3, "keras3")
    long = [_layer("InputLayer", "l0", None, batch_input_shape=[None, 8])]
    long += [_layer("ReLU", f"l{i}", f"l{i - 1}") for i in range(1, 5000)]
    long[0]["inbound_nodes"] = [[["l4999", 0, 0, {}]]]
    with pytest.raises(UserError, match="cycle"):
        sf.check_model_config(_functional(long, "l0", "l4999"), "long")
    assert time.perf_counter() - t0 < 5


def test_input_size_and_parameters_are_bounded_before_building():
    with pytest.raises(UserError, match="larger than edgeprune handles"):
        sf.check_model_config(_chain(side=100000), "huge input")
    with pytest.raises(UserError, match="parameters"):
        sf.check_model_config(_chain(side=1024, units=60000), "huge dense")
    with pytest.raises(UserError, match="units"):
        sf.check_model_config(_chain(units=-3), "negative")


# --- the Ray transfer: tar members and the landing of a worker's result ---------------------------------------------

def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def test_tar_members_are_bounded_before_landing(tmp_path):
    from edgeprune.study.executors import transfer

    sparse = tarfile.TarInfo("big.json")
    sparse.size = 4
    sparse.pax_headers = {"GNU.sparse.size": str(1 << 30), "GNU.sparse.map": "0,4", "GNU.sparse.name": "big.json"}
    with pytest.raises(UserError, match="sparse"):
        transfer.unpack_folder(_tar([(sparse, b"{}\n\n")]), tmp_path / "a")
    assert not list((tmp_path / "a").iterdir())
    many = []
    for i in range(12):
        info = tarfile.TarInfo(f"f{i}")
        info.size = 0
        many.append((info, b""))
    with tarfile.open(fileobj=io.BytesIO(_tar(many))) as t:
        with pytest.raises(UserError, match="more than 10 files"):
            transfer.check_members(t, max_members=10)
    with tarfile.open(fileobj=io.BytesIO(_tar(many[:2] + [(_sized("x", 600), bytes(600))]))) as t:
        with pytest.raises(UserError, match="more than 500 bytes"):
            transfer.check_members(t, max_bytes=500)


def _sized(name: str, n: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = n
    return info


class _Job:
    def __init__(self, tmp: Path):
        from edgeprune.study.cells import SweepOptions

        self.workspace, self.folder = tmp / "ws", tmp / "sweep"
        self.workspace.mkdir()
        (self.workspace / "parent").mkdir()
        self.run = type("R", (), {"name": "parent", "path": self.workspace / "parent"})()
        self.options = SweepOptions()


def _worker_result(tmp: Path, cell: str, run: str | None, bundle_files: dict[str, bytes]) -> dict:
    from edgeprune.study.executors.transfer import pack_folder

    b = tmp / "worker-bundle"
    b.mkdir(exist_ok=True)
    for n, data in bundle_files.items():
        (b / n).write_bytes(data)
    r = tmp / "worker-run"
    r.mkdir(exist_ok=True)
    (r / "notes.json").write_text("{}")
    return {"record": {"kind": "edgeprune-sweep-cell", "version": 2, "cell": cell, "method": "filter", "run": run},
            "attempt": 1, "node": "worker", "root": "/tmp/edgeprune-cell-x", "seconds": 1.0,
            "run": pack_folder(r) if run else None, "bundle": pack_folder(b)}


@pytest.mark.parametrize("damage, needle", [
    (b"{not json", "not a valid"), (b"[" * 100000 + b"]" * 100000, "not a valid"), (b"\xff\xfe\x00", "not a valid"),
    (json.dumps({"kind": "edgeprune-export", "files": 5}).encode(), "export.json"),
])
def test_a_damaged_worker_json_is_that_cells_failed_row(tmp_path, damage, needle):
    from edgeprune.study.cells import Cell
    from edgeprune.study.executors.ray_cluster import land

    job = _Job(tmp_path)
    cell = Cell(key="filter-50", method="filter", value=0.5)
    rec = land(_worker_result(tmp_path, "filter-50", None, {"export.json": damage}), cell, job, 0.0, time.perf_counter())
    assert rec.error and rec.error.startswith("landing:") and needle in rec.error, rec.error
    assert not (job.folder / "exports" / "filter-50").exists()
    assert not [p for p in (job.folder / "exports").iterdir()] if (job.folder / "exports").exists() else True
    for bad in ("not a dict", {"record": {"cell": 5}}, {"record": {"kind": "edgeprune-sweep-cell", "cell": "other",
                                                                   "method": "x"}}):
        rec = land(bad, cell, job, 0.0, time.perf_counter())
        assert rec.error and rec.cell == "filter-50" and rec.executor == "ray"


def test_a_landed_run_name_passes_the_run_name_check(tmp_path):
    from edgeprune.study.cells import Cell
    from edgeprune.study.executors.ray_cluster import land

    job = _Job(tmp_path)
    cell = Cell(key="filter-50", method="filter", value=0.5)
    out = _worker_result(tmp_path, "filter-50", "../escaped_run", {"export.json": b"{}"})
    rec = land(out, cell, job, 0.0, time.perf_counter())
    assert "run name '../escaped_run' is not allowed" in rec.error
    assert not (tmp_path / "escaped_run").exists() and not (tmp_path / ".escaped_run.partial").exists()
    assert sorted(p.name for p in job.workspace.iterdir()) == ["parent"]
