"""Untrusted archives read with bounds, before anything loads them: zip-based model files (.keras), HDF5 weights
(.h5, model.weights.h5), .npz arrays and the layer graph of a model config (read as data).

- A zip member's declared size, its size against its compressed size (the ratio of a bomb), the members' count and
  total, and its name are checked from the central directory before a byte is expanded; a member is then read through
  a bounded reader that stops at its declared size, so a 1 GiB member of spaces costs nothing to refuse.
- Every HDF5 object is walked without following a link: external storage (a dataset whose bytes live in another
  file, which HDF5 reads when the dataset is), virtual datasets, external, soft and user-defined links, and
  reference or variable-length types are refused; each dataset's size is bounded before it is read, and floating
  weights must be finite.
- A .npz member's declared size and its .npy header's shape and type are checked before the array is read.
- A model config's layers are sorted topologically (a cycle made Keras loop forever; a missing layer is refused),
  and its input size and parameter count are estimated from the config before any tensor is built.

Every refusal is a one-line UserError. numpy only at import (h5py, which ships with TensorFlow, is imported inside the
HDF5 functions), so the device side can read .npz files with it.
"""
from __future__ import annotations

import heapq
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

MiB = 1 << 20
GiB = 1 << 30

MAX_MEMBERS = 10_000  # members of one zip archive
MAX_MEMBER_BYTES = 1 * GiB  # one member, expanded (weights of 250M float32 values)
MAX_TOTAL_BYTES = 2 * GiB  # all members, expanded
MAX_RATIO = 100  # expanded / compressed bytes of a member over RATIO_FROM bytes (weights compress about 1-10x)
RATIO_FROM = 1 * MiB
MAX_JSON_BYTES = 32 * MiB  # config.json, metadata.json (a large model's config is under 1 MB)
MAX_ASSET_BYTES = 16 * MiB  # assets/ of a .keras file: the layers edgeprune supports have none
MAX_ATTR_BYTES = 32 * MiB  # one HDF5 attribute (tf.keras .h5 keeps the model config in one)
MAX_H5_OBJECTS = 100_000  # groups and datasets of one HDF5 file
MAX_H5_DEPTH = 64
MAX_NPZ_ARRAY_BYTES = 512 * MiB  # one array of a .npz (a test set of 17,000 images of 100 px)
MAX_IMAGE_SIDE = 1024  # as --image-size
MAX_CHANNELS = 1 << 16
MAX_PARAMS = 100_000_000  # 400 MB of float32 weights; a Raspberry Pi has 1-8 GB
MAX_ACTIVATION = 1 << 28  # values of one layer's output for one image
MAX_LAYERS = 20_000
_BLOCK = 16 * MiB  # bytes read at once when checking a dataset or a member

KERAS_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
_JSON_MEMBERS = ("config.json", "metadata.json")


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.1f} MiB" if n >= MiB else f"{n:,} bytes"


# --- zip ---------------------------------------------------------------------------------------------------------

def open_zip(path: str | Path, what: str = "archive") -> zipfile.ZipFile:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found (or not a regular file): {path}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise UserError(f"{path} is not a {what} ({exc.__class__.__name__})") from None


def check_zip(zf: zipfile.ZipFile, where: str, *, limits: dict[str, int] | None = None,
              max_member: int = MAX_MEMBER_BYTES, max_total: int = MAX_TOTAL_BYTES, max_ratio: float = MAX_RATIO,
              max_members: int = MAX_MEMBERS) -> list[zipfile.ZipInfo]:
    """Every member's name and declared sizes, from the central directory, before anything is expanded.
    ``limits`` bounds named members more tightly (e.g. config.json)."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise UserError(f"{where} holds {len(infos):,} members, more than {max_members:,}; refused")
    try:
        archive_bytes = Path(zf.filename).stat().st_size if zf.filename else None
    except OSError:
        archive_bytes = None
    names, total = set(), 0
    for i in infos:
        name = i.filename
        if name in names:
            raise UserError(f"{where} holds {name!r} twice; refused")
        names.add(name)
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\0" in name:
            raise UserError(f"{where} holds a member named {name!r}, outside the archive; refused")
        if i.flag_bits & 0x1:
            raise UserError(f"{where}: member {name!r} is encrypted; refused")
        limit = (limits or {}).get(name, max_member)
        if i.file_size > limit:
            raise UserError(f"{where}: member {name!r} declares {_size(i.file_size)}, more than the "
                            f"{_size(limit)} allowed; refused before expanding it")
        if archive_bytes is not None and i.compress_size > archive_bytes:
            raise UserError(f"{where}: member {name!r} declares more compressed bytes than the file has; damaged")
        if i.file_size > RATIO_FROM and i.file_size > max_ratio * max(i.compress_size, 1):
            raise UserError(f"{where}: member {name!r} expands {i.file_size / max(i.compress_size, 1):,.0f}x "
                            f"(to {_size(i.file_size)}), a compression bomb; refused")
        total += i.file_size
        if total > max_total:
            raise UserError(f"{where}: its members expand to more than {_size(max_total)}; refused")
    return infos


def read_member(zf: zipfile.ZipFile, name: str | zipfile.ZipInfo, where: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """A member's bytes through a bounded reader: never more than its declared size, nor than ``limit``."""
    info = name if isinstance(name, zipfile.ZipInfo) else zf.getinfo(name)
    bound = min(limit, info.file_size)
    if info.file_size > limit:
        raise UserError(f"{where}: member {info.filename!r} declares {_size(info.file_size)}, more than the "
                        f"{_size(limit)} allowed")
    buf = io.BytesIO()
    try:
        with zf.open(info) as fp:
            while True:
                chunk = fp.read(min(_BLOCK, bound + 1 - buf.tell()))
                if not chunk:
                    break
                buf.write(chunk)
                if buf.tell() > bound:
                    raise UserError(f"{where}: member {info.filename!r} holds more than it declares; damaged")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise UserError(f"{where}: member {info.filename!r} cannot be read ({exc.__class__.__name__}: "
                        f"{' '.join(str(exc).split())[:120]})") from None
    return buf.getvalue()


def loads_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{where} is not valid JSON ({exc.__class__.__name__})") from None


# --- .keras archives -----------------------------------------------------------------------------------------------

@dataclass
class KerasArchive:
    config: Any
    metadata: Any | None
    weights: bytes | None  # model.weights.h5, checked (check_h5)
    weights_summary: "H5Summary | None" = None


def read_keras_archive(path: str | Path, *, weights: bool = True) -> KerasArchive:
    """A .keras file's config.json and metadata.json (as data) and model.weights.h5 (its bytes), every member bounded
    and the weights walked by ``check_h5``; members other than Keras' own are refused (tf.keras extracts the archive to a
    temporary folder when it loads it)."""
    where = str(path)
    with open_zip(path, "Keras model (.keras archive)") as zf:
        infos = check_zip(zf, where, limits={"config.json": MAX_JSON_BYTES, "metadata.json": MAX_JSON_BYTES})
        names = {i.filename for i in infos}
        assets = [i for i in infos if i.filename not in KERAS_MEMBERS]
        stray = [i.filename for i in assets if not i.filename.startswith("assets/")]
        if stray:
            raise UserError(f"{where} holds {stray[0]!r}, which is not part of a Keras model file; refused")
        if sum(i.file_size for i in assets) > MAX_ASSET_BYTES:
            raise UserError(f"{where}: its assets/ expand to more than {_size(MAX_ASSET_BYTES)}; the layers edgeprune "
                            "supports have no assets; refused")
        if "config.json" not in names:
            raise UserError(f"{path} is not a Keras model (.keras archive with config.json); save it with "
                            "model.save('x.keras')")
        config = loads_json(read_member(zf, "config.json", where, MAX_JSON_BYTES), f"{where}: config.json")
        meta = (loads_json(read_member(zf, "metadata.json", where, MAX_JSON_BYTES), f"{where}: metadata.json")
                if "metadata.json" in names else None)
        blob, summary = None, None
        if weights and "model.weights.h5" in names:
            blob = read_member(zf, "model.weights.h5", where)
            summary = check_h5(io.BytesIO(blob), f"{where}: model.weights.h5")
    return KerasArchive(config, meta, blob, summary)


# --- HDF5 ------------------------------------------------------------------------------------------------------------

@dataclass
class H5Summary:
    datasets: int = 0
    values: int = 0
    bytes: int = 0
    attrs: dict = field(default_factory=dict)  # the root's attributes that were asked for, read bounded


def check_h5(source, where: str, *, root_attrs: tuple[str, ...] = (), max_bytes: int = MAX_TOTAL_BYTES,
             check_finite: bool = True) -> H5Summary:
    """Walk every object of an HDF5 file (a path or a file-like object) without following links, and refuse what
    reads outside it or has no bound; read ``root_attrs`` of the root group (bounded); check floating weights are
    finite."""
    import h5py

    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise UserError(f"HDF5 file not found (or not a regular file): {source}")
    summary = H5Summary()
    try:
        with h5py.File(source, "r") as f:
            _check_attrs(f, where, "/")
            for name in root_attrs:
                if name in f.attrs:
                    summary.attrs[name] = f.attrs[name]
            _walk(h5py, f, where, summary, set(), 0, max_bytes, check_finite)
    except UserError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise UserError(f"{where} is not a readable HDF5 file ({exc.__class__.__name__}: "
                        f"{' '.join(str(exc).split())[:120]})") from None
    return summary


def _check_attrs(obj, where: str, name: str) -> None:
    import h5py

    for a in list(obj.attrs):
        aid = obj.attrs.get_id(a)
        try:
            stored = aid.get_storage_size()
        except RuntimeError:  # HDF5 reports an empty attribute's size of 0 as an error
            stored = 0
        if stored > MAX_ATTR_BYTES:
            raise UserError(f"{where}: attribute {a!r} of {name} holds {_size(stored)}; refused")
        if h5py.check_dtype(ref=aid.dtype) is not None:
            raise UserError(f"{where}: attribute {a!r} of {name} is an HDF5 reference; refused")


def _walk(h5py, group, where: str, s: H5Summary, seen: set, depth: int, max_bytes: int, check_finite: bool) -> None:
    if depth > MAX_H5_DEPTH:
        raise UserError(f"{where}: groups nested more than {MAX_H5_DEPTH} deep; refused")
    for key in list(group.keys()):
        path = f"{group.name.rstrip('/')}/{key}"
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise UserError(f"{where}: {path} is a link to another file ({link.filename}); refused")
        if not isinstance(link, h5py.HardLink):
            raise UserError(f"{where}: {path} is a {link.__class__.__name__}, not an object of the file; refused")
        obj = group[key]
        if obj.id in seen:  # another hard link to an object already checked
            continue
        seen.add(obj.id)
        if len(seen) > MAX_H5_OBJECTS:
            raise UserError(f"{where}: more than {MAX_H5_OBJECTS:,} objects; refused")
        _check_attrs(obj, where, path)
        if isinstance(obj, h5py.Group):
            _walk(h5py, obj, where, s, seen, depth + 1, max_bytes, check_finite)
        elif isinstance(obj, h5py.Dataset):
            _check_dataset(h5py, obj, where, path, s, max_bytes, check_finite)


def _check_dataset(h5py, d, where: str, path: str, s: H5Summary, max_bytes: int, check_finite: bool) -> None:
    plist = d.id.get_create_plist()
    if plist.get_external_count() > 0:
        raise UserError(f"{where}: dataset {path} keeps its bytes in another file (HDF5 external storage: "
                        f"{plist.get_external(0)[0].decode(errors='replace')!r}); refused before any weight is read")
    if plist.get_layout() == h5py.h5d.VIRTUAL or d.is_virtual:
        raise UserError(f"{where}: dataset {path} is a virtual dataset (its bytes come from other files); refused")
    dt = d.dtype
    if dt.kind not in "biuf" or dt.fields is not None or h5py.check_dtype(vlen=dt) is not None \
            or h5py.check_dtype(ref=dt) is not None:
        raise UserError(f"{where}: dataset {path} holds {dt}, not numbers; refused")
    shape = d.shape or ()
    values = math.prod(shape) if d.shape is not None else 0
    nbytes = values * dt.itemsize
    s.datasets += 1
    s.values += values
    s.bytes += nbytes
    if s.bytes > max_bytes:
        raise UserError(f"{where}: its datasets hold more than {_size(max_bytes)}; refused")
    if not (check_finite and dt.kind == "f" and values):
        return
    if not shape:
        ok = bool(np.isfinite(d[()]))
    else:
        row = max(1, nbytes // max(shape[0], 1))
        step = max(1, _BLOCK // row)
        ok = all(np.isfinite(d[i:i + step]).all() for i in range(0, shape[0], step))
    if not ok:
        raise UserError(f"{where}: weights {path} hold NaN or infinite values; edgeprune refuses a model with "
                        "non-finite weights (retrain it, or save it before training diverged)")


def h5_model_config(path: str | Path) -> tuple[Any, H5Summary]:
    """A tf.keras .h5 file walked by ``check_h5``, and its model_config attribute as data."""
    where = str(path)
    s = check_h5(path, where, root_attrs=("model_config",))
    raw = s.attrs.get("model_config")
    if raw is None:
        raise UserError(f"{path} holds weights only (no model config); save the whole model with model.save('x.h5')")
    if isinstance(raw, np.ndarray) and raw.shape == () and raw.dtype.kind in "SUO":
        raw = raw.item()
    if isinstance(raw, bytes):
        return loads_json(raw, f"{where}: model_config"), s
    if isinstance(raw, str):
        return loads_json(raw.encode("utf-8", "surrogatepass"), f"{where}: model_config"), s
    raise UserError(f"{where}: its model_config is {type(raw).__name__}, not JSON text; refused")


# --- .npz --------------------------------------------------------------------------------------------------------

def load_npz(path: str | Path, names: tuple[str, ...], *, max_array: int = MAX_NPZ_ARRAY_BYTES,
             max_total: int = MAX_TOTAL_BYTES) -> dict[str, np.ndarray]:
    """Named arrays of an .npz, each member's declared size and its .npy header (shape, type, no pickle) checked
    before the array is read."""
    where = str(path)
    out = {}
    with open_zip(path, "readable .npz file") as zf:
        infos = {i.filename: i for i in check_zip(zf, where, max_member=max_array + 64 * 1024, max_total=max_total)}
        missing = [n for n in names if f"{n}.npy" not in infos]
        if missing:
            raise UserError(f"{path} lacks the arrays {missing}")
        for n in names:
            info = infos[f"{n}.npy"]
            try:
                with zf.open(info) as fp:
                    version = np.lib.format.read_magic(fp)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
                    else:
                        raise ValueError(f"unknown .npy version {version}")
                    if dtype.hasobject:
                        raise UserError(f"{where}: array {n!r} holds Python objects; refused (no pickle)")
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes > max_array or nbytes > info.file_size:
                        raise UserError(f"{where}: array {n!r} of shape {tuple(shape)} would take {_size(nbytes)}"
                                        + (f", more than the {_size(max_array)} allowed" if nbytes > max_array else
                                           ", more than its member holds; damaged") + "; refused before reading it")
                    data = bytearray(fp.read(nbytes))  # bounded: the header's shape was checked above
                    if len(data) != nbytes:
                        raise UserError(f"{where}: array {n!r} holds fewer bytes than its header says; damaged")
                    arr = np.frombuffer(data, dtype=dtype)
                    arr = arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
            except UserError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, TypeError,
                    NotImplementedError) as exc:
                raise UserError(f"{where}: array {n!r} cannot be read ({exc.__class__.__name__}: "
                                f"{' '.join(str(exc).split())[:120]})") from None
            out[n] = arr
    return out


# --- model config as data: the layer graph, the input size and the parameter count --------------------------------

MODEL_CLASSES = ("Functional", "Model", "Sequential")


def _layer_name(layer: dict) -> str | None:
    n = layer.get("name")
    if n is None and isinstance(layer.get("config"), dict):
        n = layer["config"].get("name")
    return n if isinstance(n, str) else None


def _refs(node, out: list, depth: int = 0) -> None:
    """Layer names referred to by an inbound node (tf.keras [name, node, tensor, kwargs] lists, Keras 3
    __keras_tensor__ objects), in order."""
    if depth > 64:
        raise UserError("an inbound node of the model config is nested too deeply; refused")
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            hist = (node.get("config") or {}).get("keras_history") if isinstance(node.get("config"), dict) else None
            if isinstance(hist, list) and hist and isinstance(hist[0], str):
                out.append(hist[0])
                return
            raise UserError("a layer output in the model config names no layer (keras_history); refused")
        for v in node.values():
            _refs(v, out, depth + 1)
    elif isinstance(node, list):
        if len(node) in (3, 4) and isinstance(node[0], str) and all(isinstance(v, int) for v in node[1:3]):
            out.append(node[0])
            return
        for v in node:
            _refs(v, out, depth + 1)


def _io_names(v) -> list:
    out: list = []
    _refs(v, out)
    return out


def layer_order(cfg: dict, where: str) -> list[dict]:
    """The layers of a functional config in an order where each comes after the layers it takes input from; a
    cycle, a reference to a missing layer, or two layers of one name are refused."""
    layers = cfg.get("layers")
    if not isinstance(layers, list) or not all(isinstance(l, dict) for l in layers):
        raise UserError(f"{where}: the model config's 'layers' is not a list of layers")
    if len(layers) > MAX_LAYERS:
        raise UserError(f"{where}: the model has {len(layers):,} layers, more than {MAX_LAYERS:,}; refused")
    by_name: dict[str, dict] = {}
    for l in layers:
        n = _layer_name(l)
        if n is None:
            raise UserError(f"{where}: a layer of the model config has no name")
        if n in by_name:
            raise UserError(f"{where}: two layers are named {n!r}; refused")
        by_name[n] = l
    deps: dict[str, list[str]] = {}
    for n, l in by_name.items():
        refs: list[str] = []
        _refs(l.get("inbound_nodes") or [], refs)
        for r in refs:
            if r not in by_name:
                raise UserError(f"{where}: layer {n!r} takes input from {r!r}, which is not a layer of the model")
        deps[n] = list(dict.fromkeys(refs))
    for key in ("input_layers", "output_layers"):
        for r in _io_names(cfg.get(key) or []):
            if r not in by_name:
                raise UserError(f"{where}: {key} names {r!r}, which is not a layer of the model")
    # Kahn's algorithm, taking the ready layer that comes first in the file (a valid file keeps its order)
    index = {n: i for i, n in enumerate(by_name)}
    users: dict[str, list[str]] = {n: [] for n in by_name}
    left = {n: len(d) for n, d in deps.items()}
    for n, d in deps.items():
        for r in d:
            users[r].append(n)
    ready = [(index[n], n) for n in by_name if left[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            left[u] -= 1
            if left[u] == 0:
                heapq.heappush(ready, (index[u], u))
    if len(order) != len(by_name):
        stuck = [n for n in by_name if left[n] > 0]
        raise UserError(f"{where}: the layers {', '.join(map(repr, stuck[:4]))}{', ...' if len(stuck) > 4 else ''} "
                        "take their inputs from each other in a cycle; a model's layers must form a graph without "
                        "cycles; refused")
    return [by_name[n] for n in order]


@dataclass
class ModelEstimate:
    params: int = 0
    input_shape: tuple | None = None


def check_model_config(cfg: Any, where: str, *, max_params: int = MAX_PARAMS, max_side: int = MAX_IMAGE_SIDE) -> ModelEstimate:
    """The layer graph sorted (no cycle, no missing layer), the input size bounded and the parameters counted from
    the config, before Keras builds anything."""
    if not isinstance(cfg, dict) or cfg.get("class_name") not in MODEL_CLASSES or not isinstance(cfg.get("config"), dict):
        raise UserError(f"{where} holds a {cfg.get('class_name') if isinstance(cfg, dict) else 'value'!s:.40}, not a "
                        "Sequential or functional model")
    est = ModelEstimate()
    _model_shapes(cfg, where, est, max_side, max_params, None, 0)
    return est


def _ints(v, what: str, where: str, n: int = 2, lo: int = 0) -> tuple:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v] * n
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v) \
            or any(not lo <= x <= MAX_CHANNELS for x in v):
        raise UserError(f"{where}: {what} must be whole numbers from {lo} to {MAX_CHANNELS}, got {str(v)[:60]}")
    return tuple(v)


def _dim(v, what: str, where: str) -> int:
    return _ints(v, what, where, 1, 1)[0]


def _check_input(shape, where: str, name: str, max_side: int) -> tuple | None:
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or len(shape) < 1 or len(shape) > 8:
        raise UserError(f"{where}: layer {name!r} declares the input shape {str(shape)[:60]}")
    dims = list(shape[1:])
    for i, d in enumerate(dims):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            raise UserError(f"{where}: layer {name!r} declares the input shape {str(shape)[:60]}")
        limit = max_side if (len(dims) == 3 and i < 2) else MAX_CHANNELS
        if d > limit:
            raise UserError(f"{where}: the model takes inputs of shape {tuple(shape[1:])}, larger than edgeprune "
                            f"handles ({max_side} px a side, {MAX_CHANNELS} channels); refused before building it")
    return tuple(dims)


def _out_len(n, k, s, d, padding):
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return max(0, -(-(n - (k - 1) * d) // s))


def _layer(cls: str, c: dict, shapes: list, where: str, name: str) -> tuple[int, tuple | None]:
    """(parameters, output shape without the batch) of one layer, from its config and input shapes (None: unknown)."""
    x = shapes[0] if shapes else None
    last = x[-1] if x else None
    if cls in ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D"):
        if cls in ("Conv2D", "DepthwiseConv2D"):
            k = _ints(c.get("kernel_size", 1), "kernel_size", where, lo=1)
            s = _ints(c.get("strides", 1), "strides", where, lo=1)
            d = _ints(c.get("dilation_rate", 1), "dilation_rate", where, lo=1)
        else:
            k = _ints(c.get("pool_size", 2), "pool_size", where, lo=1)
            s = _ints(c.get("strides") or k, "strides", where, lo=1)
            d = (1, 1)
        pad = c.get("padding", "valid")
        bias = c.get("use_bias", True) is not False
        if cls == "Conv2D":
            f = _dim(c.get("filters"), "filters", where)
            g = _dim(c.get("groups", 1) or 1, "groups", where)
            params = (k[0] * k[1] * (last // g) * f + (f if bias else 0)) if last else 0
            cout = f
        elif cls == "DepthwiseConv2D":
            m = _dim(c.get("depth_multiplier", 1), "depth_multiplier", where)
            params = (k[0] * k[1] * last * m + (last * m if bias else 0)) if last else 0
            cout = last * m if last else None
        else:
            params, cout = 0, last
        if not x or len(x) != 3:
            return params, None
        return params, (_out_len(x[0], k[0], s[0], d[0], pad), _out_len(x[1], k[1], s[1], d[1], pad), cout)
    if cls == "Dense":
        u = _dim(c.get("units"), "units", where)
        bias = c.get("use_bias", True) is not False
        return ((last * u + (u if bias else 0)) if last else 0), ((*x[:-1], u) if x else None)
    if cls == "BatchNormalization":
        return (4 * last if last else 0), x
    if cls == "Normalization":
        return (3 * last if last else 0), x
    if cls == "PReLU":
        return (math.prod(x) if x and None not in x else 0), x
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        if not x:
            return 0, None
        return 0, ((1, 1, last) if c.get("keepdims") else (last,))
    if cls == "Flatten":
        return 0, ((math.prod(x),) if x and None not in x else None)
    if cls == "Reshape":
        t = c.get("target_shape")
        if not isinstance(t, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in t) \
                or any(v == 0 or v < -1 or v > MAX_ACTIVATION for v in t) or sum(v == -1 for v in t) > 1:
            raise UserError(f"{where}: layer {name!r} has the target shape {str(t)[:60]}")
        if -1 in t:
            known = math.prod(v for v in t if v != -1)
            if x and None not in x:
                t = tuple(math.prod(x) // known if v == -1 else v for v in t)
            else:
                return 0, None
        return 0, tuple(t)
    if cls in ("ZeroPadding2D", "Cropping2D"):
        key = "padding" if cls == "ZeroPadding2D" else "cropping"
        p = c.get(key, 1 if cls == "ZeroPadding2D" else 0)
        if isinstance(p, int) and not isinstance(p, bool):
            p = ((p, p), (p, p))
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise UserError(f"{where}: layer {name!r} has {key} {str(p)[:60]}")
        pairs = [_ints(v, key, where) for v in p]
        if not x or len(x) != 3:
            return 0, None
        sign = 1 if cls == "ZeroPadding2D" else -1
        return 0, tuple(None if n is None else n + sign * sum(pr) for n, pr in zip(x[:2], pairs)) + (last,)
    if cls == "Resizing":
        h, w = _dim(c.get("height"), "height", where), _dim(c.get("width"), "width", where)
        return 0, (h, w, last)
    if cls == "Concatenate":
        if not shapes or any(s is None for s in shapes):
            return 0, None
        axis = c.get("axis", -1)
        if axis not in (-1, len(shapes[0])):
            return 0, shapes[0]
        ends = [s[-1] for s in shapes]
        return 0, (*shapes[0][:-1], None if None in ends else sum(ends))
    return 0, x  # activations, dropout, noise, rescaling, merges of equal shapes


def _model_shapes(cfg: dict, where: str, est: ModelEstimate, max_side: int, max_params: int, given, depth: int):
    """Walk a model config (nested models too), adding parameters to ``est``; return its output shape."""
    if depth > 16:
        raise UserError(f"{where}: models nested more than 16 deep; refused")
    cls, c = cfg.get("class_name"), cfg.get("config")
    if not isinstance(c, dict):
        raise UserError(f"{where}: model {cls!s:.40} has no config")
    if cls == "Sequential":
        layers = c.get("layers")
        if not isinstance(layers, list) or not all(isinstance(l, dict) for l in layers):
            raise UserError(f"{where}: the model config's 'layers' is not a list of layers")
        if len(layers) > MAX_LAYERS:
            raise UserError(f"{where}: the model has {len(layers):,} layers, more than {MAX_LAYERS:,}; refused")
        x = given
        if c.get("build_input_shape") is not None:
            x = _check_input(c.get("build_input_shape"), where, "build_input_shape", max_side) or x
        for l in layers:
            x = _one(l, [x] if x is not None else [], where, est, max_side, max_params, depth)
        return x
    order = layer_order(c, where)
    out: dict[str, tuple | None] = {}
    for l in order:
        refs: list[str] = []
        _refs(l.get("inbound_nodes") or [], refs)
        ins = [out.get(r) for r in refs]
        if not refs and given is not None and l.get("class_name") != "InputLayer":
            ins = [given]
        out[_layer_name(l)] = _one(l, ins, where, est, max_side, max_params, depth)
    outs = _io_names(c.get("output_layers") or [])
    return out.get(outs[0]) if outs else None


def _one(l: dict, ins: list, where: str, est: ModelEstimate, max_side: int, max_params: int, depth: int):
    cls, c = l.get("class_name"), l.get("config")
    name = _layer_name(l) or "?"
    if not isinstance(c, dict):
        raise UserError(f"{where}: layer {name!r} has no config")
    if cls in MODEL_CLASSES:
        return _model_shapes(l, where, est, max_side, max_params, ins[0] if ins else None, depth + 1)
    declared = c.get("batch_input_shape", c.get("batch_shape"))
    if declared is not None:
        shape = _check_input(declared, where, name, max_side)
        if est.input_shape is None:
            est.input_shape = shape
        ins = [shape]
    if cls == "InputLayer":
        return ins[0] if ins else None
    params, shape = _layer(str(cls), c, [s for s in ins], where, name)
    est.params += params
    if est.params > max_params:
        raise UserError(f"{where}: the model has more than {max_params:,} parameters (counted from its config, at "
                        f"layer {name!r}); refused before building it")
    if shape is not None and None not in shape:
        if any(v < 0 for v in shape):
            raise UserError(f"{where}: layer {name!r} would output the shape {shape}; refused")
        if math.prod(shape) > MAX_ACTIVATION:
            raise UserError(f"{where}: layer {name!r} would output {math.prod(shape):,} values per image "
                            f"(shape {shape}); refused before building the model")
    return shape
