"""Runtimes behind one interface: a ``Session`` loads a model file, says what its input and output look like, and
runs it (as Ultralytics' AutoBackend puts runtimes behind one interface). The registry below lists the runtimes in
order of preference; ``tflite`` implements the three TFLite interpreters (LiteRT, tflite-runtime, tf.lite).

A second runtime is one module with an ``open_session(module, name, version, path, threads, xnnpack)`` function
returning a ``Session``, and one line in ``RUNTIMES``.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import UserError

# (name, module to import, distribution name for the version, module of edgeprune that implements the Session)
RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "ai-edge-litert", "tflite"),
    ("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime", "tflite"),
    ("tensorflow", "tensorflow", "tensorflow", "tflite"),  # tf.lite, the last resort
)


@dataclass
class TensorInfo:
    shape: list[int]
    dtype: np.dtype
    scale: float = 0.0  # 0: not quantized
    zero_point: int = 0


class Session(Protocol):
    """A loaded model, ready to run one input at a time."""

    def allocate(self) -> None:
        """Prepare to run (TFLite's allocate_tensors); timed apart from loading."""

    def inputs(self) -> list[TensorInfo]: ...

    def outputs(self) -> list[TensorInfo]: ...

    def set_input(self, x: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def output(self) -> np.ndarray: ...


@dataclass
class Runtime:
    name: str
    version: str
    module: Any
    implementation: str = "tflite"

    def open(self, path: str, *, threads: int | None = None, xnnpack: bool = True) -> Session:
        impl = importlib.import_module(f"{__package__}.{self.implementation}")
        return impl.open_session(self.module, self.name, self.version, path, threads, xnnpack)


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


def available(names: tuple[str, ...] | None = None) -> list[str]:
    """Names of the runtimes that import here, in order of preference (tensorflow is never imported to find out)."""
    from importlib.util import find_spec

    out = []
    for name, mod, _, _ in RUNTIMES:
        if names and name not in names:
            continue
        top = mod.split(".")[0]
        try:
            if find_spec(top) is not None:
                out.append(name)
        except (ImportError, ValueError):
            pass
    return out


def load(name: str | None = None) -> Runtime:
    """The named runtime, or the first that imports. EDGEPRUNE_RUNTIME overrides the default choice."""
    name = name or os.environ.get("EDGEPRUNE_RUNTIME") or None
    errors = []
    for rname, mod, dist, impl in RUNTIMES:
        if name and rname != name:
            continue
        try:
            module = importlib.import_module(mod)
            if rname == "tensorflow":
                module = module.lite
        except (ImportError, AttributeError) as exc:
            errors.append(f"{rname}: {exc}")
            continue
        return Runtime(rname, _version(dist), module, impl)
    if name and name not in {r[0] for r in RUNTIMES}:
        raise UserError(f"unknown runtime {name!r}; choose one of {', '.join(r[0] for r in RUNTIMES)}")
    raise UserError("no TFLite runtime found; install one with `pip install ai-edge-litert` "
                    "(or `pip install tflite-runtime 'numpy<2'` on 32-bit Arm)" + (f" [{'; '.join(errors)}]" if name else ""))
