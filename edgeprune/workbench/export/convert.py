"""TFLite conversion: one Keras model into the bytes of one format (the table of formats is ``edgeprune.formats``)."""
from __future__ import annotations

import numpy as np

from ...errors import UserError
from ...formats import get as get_format
from ..graph import weighted_layers
from ..tf import quiet_native_stderr, tf


def quantizer_file(model, fmt: str, calib_x: np.ndarray | None = None, max_kb: float | None = None,
                   val_x: np.ndarray | None = None, val_y: np.ndarray | None = None,
                   threads: int | None = None) -> tuple[bytes, dict]:
    """A file of LiteRT's quantizer (``wi8``, ``wi4``, ...; ``mixed`` chooses its int4 layers under ``max_kb``) from
    the converter's fp32 bytes, and what export.json records of how it was made."""
    spec = get_format(fmt)
    if fmt != "mixed":
        return convert(model, fmt, False, calib_x, threads=threads), {"quantizer": {"recipe": spec.quantizer}}
    if max_kb is None:
        raise UserError("the mixed format needs --max-kb Y: the gzip size (kB) its int4 layers are chosen to get under")
    from . import quantize

    names = [layer.name for layer in weighted_layers(model)]
    x, y = (val_x, val_y) if val_x is not None and len(val_x) else (calib_x, None)  # no validation split: training images
    blob, info = quantize.mixed(convert(model, "fp32", False), max_kb, x, y, names)
    return blob, {"quantizer": {"recipe": spec.quantizer, "mixed": info}}


def convert(model, fmt: str, sparse: bool, calib_x: np.ndarray | None = None, io_type: str = "uint8",
            output_type: str | None = None, threads: int | None = None) -> bytes:
    """The model as TFLite bytes; int8 files take ``io_type`` in and give ``output_type`` (default: the same) out.
    The quantizer's formats start from the fp32 bytes and are never sparse-encoded."""
    if get_format(fmt).quantizer:
        if fmt == "mixed":
            raise UserError("mixed files are made by `edgeprune export --formats mixed --max-kb Y` only")
        from .quantize import quantize

        return quantize(convert(model, "fp32", False), fmt, calib_x, threads)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    opts = []
    if fmt in ("fp16", "dynamic", "int8"):
        opts.append(tf.lite.Optimize.DEFAULT)
    if sparse:
        opts.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    conv.optimizations = opts
    if fmt == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    if fmt == "int8":
        if calib_x is None or len(calib_x) == 0:
            raise UserError("int8 needs calibration images from the run's training split, and there are none; use --calib N with N > 0")

        def representative():
            for i in range(len(calib_x)):
                yield [calib_x[i : i + 1].astype(np.float32)]

        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[io_type]
        conv.inference_input_type = dtype
        conv.inference_output_type = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[output_type or io_type]
    with quiet_native_stderr():  # the converter prints its MLIR passes' chatter on fd 2
        return conv.convert()
