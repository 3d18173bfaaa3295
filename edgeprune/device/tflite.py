"""The TFLite implementation of ``runtime.Session``: LiteRT, tflite-runtime and tf.lite share one Interpreter API."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError
from .runtime import TensorInfo


class TFLiteSession:
    def __init__(self, interpreter):
        self._interp = interpreter
        self._in = self._out = None

    def allocate(self) -> None:
        self._interp.allocate_tensors()
        ins, outs = self._interp.get_input_details(), self._interp.get_output_details()
        self._in = ins[0]["index"] if ins else None
        self._out = outs[0]["index"] if outs else None

    @staticmethod
    def _info(details: list[dict]) -> list[TensorInfo]:
        return [TensorInfo([int(v) for v in d["shape"]], np.dtype(d["dtype"]), float(d["quantization"][0]),
                           int(d["quantization"][1])) for d in details]

    def inputs(self) -> list[TensorInfo]:
        return self._info(self._interp.get_input_details())

    def outputs(self) -> list[TensorInfo]:
        return self._info(self._interp.get_output_details())

    def set_input(self, x: np.ndarray) -> None:
        self._interp.set_tensor(self._in, x)

    def invoke(self) -> None:
        self._interp.invoke()

    def output(self) -> np.ndarray:
        return self._interp.get_tensor(self._out)


def open_session(module: Any, name: str, version: str, path: str, threads: int | None, xnnpack: bool) -> TFLiteSession:
    """An Interpreter for ``path``; xnnpack=False selects the built-in kernels without the default XNNPACK delegate."""
    kwargs: dict[str, Any] = {"num_threads": threads}
    if not xnnpack:
        ort = getattr(module, "OpResolverType", None) or getattr(getattr(module, "experimental", None), "OpResolverType", None)
        if ort is None:
            raise UserError(f"{name} {version} cannot switch XNNPACK off")
        kwargs["experimental_op_resolver_type"] = ort.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return TFLiteSession(module.Interpreter(model_path=path, **kwargs))
