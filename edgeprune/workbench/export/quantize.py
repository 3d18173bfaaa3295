"""LiteRT's own quantizer (``ai-edge-quantizer``): the formats it writes from the converter's fp32 file.

- ``wi8``, ``wi4``: int8 or int4 weights, channel-wise, float activations quantized on the fly (dynamic recipes);
- ``wi4-block32``: int4 weights in blocks of 32 input values in fully connected layers (the quantizer 0.10 offers
  blocks for those alone), channel-wise in convolutions;
- ``a16w8``: int8 weights and int16 activations, calibrated on the training images the int8 file uses. The
  quantizer gives such a file int16 input and output; a QUANTIZE op in front and a DEQUANTIZE op behind make them
  float32, so the file takes raw pixels like the fp32 file;
- ``mixed``: per layer int4 or int8 weights (dynamic), the int4 layers chosen under a gzip size (``mixed``).

The quantizer is imported only here and only when one of these formats is asked for: it belongs to the ``train``
extra, and the device side needs the runtime alone.
"""
from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

import numpy as np

from ...device.measure import gzip_size
from ...errors import UserError
from ...formats import get as get_format

INSTALL = "pip install 'edgeprune[train]'"
MIXED_VAL_IMAGES = 300  # validation images each per-layer probe of `mixed` runs (an int4 conv runs slowly on x86)
# ops whose weights the quantizer's dynamic recipes quantize, and which we count as a layer of a mixed file
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D")


def quantizer_formats(names) -> list[str]:
    return [n for n in names if get_format(n).quantizer]


def _aeq():
    """The quantizer's modules, or a one-line error naming the extra that installs it."""
    try:
        from ai_edge_quantizer import qtyping, quantizer, recipe, recipe_manager
    except ImportError:
        raise UserError(f"these formats need LiteRT's quantizer (ai-edge-quantizer), which is not installed: {INSTALL}") from None
    return quantizer, recipe, recipe_manager, qtyping


def check_options(names, max_kb: float | None) -> None:
    """Refuse what cannot work before any data is read: a missing quantizer, `mixed` without a size, a size without it."""
    wanted = quantizer_formats(names)
    if wanted:
        try:
            _aeq()
        except UserError as exc:
            raise UserError(f"{', '.join(wanted)}: {exc}") from None
    if max_kb is not None and not (np.isfinite(max_kb) and max_kb > 0):
        raise UserError(f"--max-kb must be a positive number of kB, got {max_kb}")
    if "mixed" in names and max_kb is None:
        raise UserError("the mixed format needs --max-kb Y: the gzip size (kB) its int4 layers are chosen to get under")
    if max_kb is not None and "mixed" not in names:
        raise UserError("--max-kb applies to the mixed format only: add mixed to --formats")


def _recipe(fmt: str, fp32: bytes):
    _, recipe, recipe_manager, qtyping = _aeq()
    ops, gran = qtyping.TFLOperationName, qtyping.QuantGranularity
    if fmt == "wi8":
        return recipe.dynamic_wi8_afp32()
    if fmt == "wi4":
        return recipe.dynamic_wi4_afp32()
    if fmt == "wi4-block32":
        # int4 per channel everywhere, then blocks for each FC layer whose inputs divide into blocks (the quantizer 0.10
        # offers blocks for FC layers only, and refuses a layer whose inputs do not divide); a later entry wins
        block = get_format(fmt).block
        rm = recipe_manager.RecipeManager()
        rm.add_dynamic_config(regex=".*", operation_name=ops.ALL_SUPPORTED, num_bits=4)
        for L in weighted_layers(fp32):
            if L.op == "FULLY_CONNECTED" and L.inputs % block == 0:
                rm.add_dynamic_config(regex="^" + re.escape(L.scope) + "$", operation_name=ops.FULLY_CONNECTED,
                                      num_bits=4, granularity=gran.BLOCKWISE_32)
        return rm.get_quantization_recipe()
    if fmt == "a16w8":
        return recipe.static_wi8_ai16()
    raise ValueError(f"no quantizer recipe for {fmt!r}")


def _signature_inputs(fp32: bytes) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    sigs = Interpreter(model_content=fp32).get_signature_list()
    if not sigs:
        raise ValueError("the fp32 file has no signature to calibrate through")
    key = next(iter(sigs))
    return key, sigs[key]["inputs"][0]


def _run_quantizer(fp32: bytes, rp, calib_x: np.ndarray | None = None, threads: int | None = None) -> bytes:
    return positive_scales(_quantizer_file(fp32, rp, calib_x, threads))


def _quantizer_file(fp32: bytes, rp, calib_x: np.ndarray | None = None, threads: int | None = None) -> bytes:
    """The file exactly as the quantizer writes it."""
    quantizer = _aeq()[0]
    q = quantizer.Quantizer(bytearray(fp32))
    q.load_quantization_recipe(rp)
    calibration = None
    # the quantizer draws progress bars and absl chatter on stderr; a failure still raises
    with contextlib.redirect_stderr(io.StringIO()):
        if q.need_calibration:
            if calib_x is None or len(calib_x) == 0:
                raise UserError("a16w8 needs calibration images from the run's training split, and there are none; "
                                "use --calib N with N > 0")
            key, name = _signature_inputs(fp32)
            data = {key: [{name: calib_x[i : i + 1].astype(np.float32)} for i in range(len(calib_x))]}
            calibration = q.calibrate(data, num_threads=threads or 2)
        res = q.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
    return bytes(res.quantized_model)


def positive_scales(blob: bytes) -> bytes:
    """The same file with no zero weight scale. The quantizer gives an all-zero channel or block (weight pruning makes
    them) a scale of 0, which XNNPACK refuses ("unsupported scale value (0.000000)"), so such a file would not load.
    Its quantized values are all 0, so any positive scale gives the same zeros: the tensor's smallest positive scale
    (1.0 where every scale is 0). Per-channel scales live in the tensor's quantization; block scales in a float16
    tensor that its blockwise details name."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    def fixed(scales: np.ndarray) -> np.ndarray | None:
        scales = np.asarray(scales).copy()
        zero = scales == 0
        if not zero.any():
            return None
        pos = scales[scales > 0]
        scales[zero] = pos.min() if pos.size else 1.0
        return scales

    model = fbu.read_model_from_bytearray(bytearray(blob))
    changed = False
    for sg in model.subgraphs:
        for t in sg.tensors:
            q = t.quantization
            if q is None or t.type not in (fb.TensorType.INT4, fb.TensorType.INT8):
                continue
            if q.scale is not None and len(q.scale) > 1:
                new = fixed(np.asarray(q.scale, np.float32))
                if new is not None:
                    q.scale, changed = [float(v) for v in new], True
            if q.detailsType == fb.QuantizationDetails.BlockwiseQuantization and q.details is not None:
                st = sg.tensors[q.details.scales]
                buf = model.buffers[st.buffer]
                dtype = {fb.TensorType.FLOAT16: np.float16, fb.TensorType.FLOAT32: np.float32}.get(st.type)
                if dtype is None or buf.data is None:
                    continue
                new = fixed(np.frombuffer(bytes(bytearray(buf.data)), dtype))
                if new is not None:
                    buf.data, changed = np.frombuffer(new.astype(dtype).tobytes(), np.uint8), True
    return bytes(fbu.convert_object_to_bytearray(model)) if changed else blob


def quantize(fp32: bytes, fmt: str, calib_x: np.ndarray | None = None, threads: int | None = None) -> bytes:
    """One format of the table from the converter's fp32 bytes."""
    blob = _run_quantizer(fp32, _recipe(fmt, fp32), calib_x, threads)
    return float_io(blob) if fmt == "a16w8" else blob


# --- int16 input and output made float32 ---------------------------------------------------------------------------

def float_io(blob: bytes) -> bytes:
    """The same model with float32 input and output: a QUANTIZE op in front of every quantized (int8/int16) graph
    input and a DEQUANTIZE op behind every quantized graph output, the signature pointing at the float tensors."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    model = fbu.read_model_from_bytearray(bytearray(blob))
    sg = model.subgraphs[0]
    quantized = (fb.TensorType.INT16, fb.TensorType.INT8)

    def opcode(builtin: int, version: int) -> int:
        for i, oc in enumerate(model.operatorCodes):
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == builtin:
                return i
        oc = fb.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, builtin, version
        model.operatorCodes.append(oc)
        return len(model.operatorCodes) - 1

    def float_twin(index: int, suffix: str) -> int:
        old = sg.tensors[index]
        t = fb.TensorT()
        t.shape, t.shapeSignature = list(old.shape), (list(old.shapeSignature) if old.shapeSignature is not None else None)
        t.type, t.name = fb.TensorType.FLOAT32, (old.name or b"") + suffix.encode()
        buf = fb.BufferT()
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def op(code: int, inp: int, out: int):
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, [inp], [out]
        return o

    renamed: dict[int, int] = {}
    for k, idx in enumerate(list(sg.inputs)):
        if sg.tensors[idx].type in quantized:
            new = float_twin(idx, "/float")
            sg.operators.insert(0, op(opcode(fb.BuiltinOperator.QUANTIZE, 3), new, idx))
            sg.inputs[k] = renamed[idx] = new
    for k, idx in enumerate(list(sg.outputs)):
        if sg.tensors[idx].type in quantized:
            new = float_twin(idx, "/float")
            sg.operators.append(op(opcode(fb.BuiltinOperator.DEQUANTIZE, 4), idx, new))
            sg.outputs[k] = renamed[idx] = new
    for sig in model.signatureDefs or []:
        for t in list(sig.inputs or []) + list(sig.outputs or []):
            if sig.subgraphIndex == 0 and t.tensorIndex in renamed:
                t.tensorIndex = renamed[t.tensorIndex]
    return bytes(fbu.convert_object_to_bytearray(model))


# --- mixed: int4 or int8 per layer under a gzip size ---------------------------------------------------------------

@dataclass
class Layer:
    op_index: int
    op: str
    scope: str  # the quantizer's name for the op: its output tensors' names, each followed by ';'
    weights: int
    inputs: int  # the weight tensor's last dimension (a FC layer's inputs)
    layer: str | None  # the Keras layer it comes from, where its name shows in the scope


def weighted_layers(fp32: bytes, keras_names: list[str] | None = None) -> list[Layer]:
    """The ops of the fp32 file that hold a weight tensor, in graph order."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfu

    model = fbu.read_model_from_bytearray(bytearray(fp32))
    sg = model.subgraphs[0]
    out = []
    for i, o in enumerate(sg.operators):
        name = tfu.get_op_name_by_index(model, 0, i)
        if name not in WEIGHTED_OPS or len(o.inputs) < 2 or o.inputs[1] < 0:
            continue
        w = sg.tensors[o.inputs[1]]
        data = model.buffers[w.buffer].data
        if data is None or len(data) == 0:
            continue  # a weight computed at run time, not a constant
        scope = tfu.get_op_scope(o, sg.tensors)
        parts = set(re.split(r"[/;]", scope))
        match = next((n for n in (keras_names or []) if n in parts), None)
        out.append(Layer(i, name, scope, int(np.prod(w.shape)), int(w.shape[-1]), match))
    return out


def mixed_recipe(layers: list[Layer], int4: set[int]):
    """int8 everywhere, then int4 for the chosen layers by their exact scope (the quantizer lets a later entry win)."""
    _, _, recipe_manager, qtyping = _aeq()
    rm = recipe_manager.RecipeManager()
    rm.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8)
    for L in layers:
        if L.op_index in int4:
            rm.add_dynamic_config(regex="^" + re.escape(L.scope) + "$", operation_name=L.op, num_bits=4)
    return rm.get_quantization_recipe()


def _probabilities(blob: bytes, x: np.ndarray) -> np.ndarray:
    """The file's outputs on the images (batch 1, float32 input), in this process."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=blob, num_threads=2)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i : i + 1].astype(np.float32))
        it.invoke()
        rows.append(np.asarray(it.get_tensor(out["index"]), np.float32).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def mixed(fp32: bytes, max_kb: float, val_x: np.ndarray, val_y: np.ndarray | None = None,
          keras_names: list[str] | None = None) -> tuple[bytes, dict]:
    """The mixed file of at most ``max_kb`` kB (1024 bytes) of gzip, and what was chosen.

    Each layer alone is put in int4 (the rest int8) and scored on validation images against the all-int8 file: the
    damage is the mean total-variation distance between the two files' output probabilities (0: the same outputs,
    1: disjoint), and the saving is the gzip bytes it removes. Layers go to int4 in order of damage per byte saved
    (most size for the least damage first; equal damage: the larger saving first) until the file gzips under the size.
    """
    max_bytes = max_kb * 1024
    layers = weighted_layers(fp32, keras_names)
    if not layers:
        raise UserError("mixed: the model has no convolution or dense weights for the quantizer to choose bits for")
    every = {L.op_index for L in layers}
    smallest = _run_quantizer(fp32, mixed_recipe(layers, every))
    g4 = gzip_size(smallest)
    if g4 > max_bytes:
        raise UserError(f"--max-kb {max_kb:g}: no mixed file is that small; the smallest reachable is "
                        f"{g4 / 1024:.1f} kB gzip (every layer's weights in int4)")
    base = _run_quantizer(fp32, mixed_recipe(layers, set()))
    g8 = gzip_size(base)
    info = {"max_kb": max_kb, "int8_gzip_bytes": g8, "int4_gzip_bytes": g4,
            "damage": "mean total-variation distance of output probabilities from the all-int8 file, on validation images",
            "val_images": 0, "order": [], "layers": []}
    rows = {L.op_index: {"op_index": L.op_index, "op": L.op, "layer": L.layer, "scope": L.scope, "weights": L.weights,
                         "bits": 8} for L in layers}
    if g8 <= max_bytes:  # all int8 already fits: no layer needs int4
        info["layers"] = list(rows.values())
        info["gzip_bytes"] = g8
        return base, info
    x = val_x[:MIXED_VAL_IMAGES]
    info["val_images"] = int(len(x))
    p_base = _probabilities(base, x)
    for L in layers:
        blob = _run_quantizer(fp32, mixed_recipe(layers, {L.op_index}))
        p = _probabilities(blob, x)
        r = rows[L.op_index]
        r["saved_gzip_bytes"] = g8 - gzip_size(blob)  # gzip may save nothing on a small layer, or a few bytes less
        r["damage"] = float(0.5 * np.abs(p - p_base).sum(axis=1).mean()) if len(x) else 0.0
        r["top1_agreement_with_int8"] = float(np.mean(p.argmax(1) == p_base.argmax(1))) if len(x) else None
        if val_y is not None and len(x):
            r["val_accuracy_alone"] = float(np.mean(p.argmax(1) == val_y[: len(x)]))
    if val_y is not None and len(x):
        info["int8_val_accuracy"] = float(np.mean(p_base.argmax(1) == val_y[: len(x)]))
    order = sorted(layers, key=lambda L: (rows[L.op_index]["damage"] / max(1, rows[L.op_index]["saved_gzip_bytes"]),
                                          -rows[L.op_index]["saved_gzip_bytes"], L.op_index))
    chosen: set[int] = set()
    blob, size = base, g8
    for L in order:
        chosen.add(L.op_index)
        rows[L.op_index]["bits"] = 4
        info["order"].append(L.op_index)
        blob = smallest if chosen == every else _run_quantizer(fp32, mixed_recipe(layers, chosen))
        size = gzip_size(blob)
        if size <= max_bytes:
            break
    info["layers"] = list(rows.values())
    info["gzip_bytes"] = size
    return blob, info
