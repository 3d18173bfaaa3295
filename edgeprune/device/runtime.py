"""Find a TFLite interpreter: ai-edge-litert (LiteRT), then tflite-runtime, then tf.lite as a last resort."""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from ..errors import UserError

# (name, module holding Interpreter, distribution name for the version)
RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow", "tensorflow", "tensorflow"),  # tf.lite, the last resort
)


@dataclass
class Runtime:
    name: str
    version: str
    module: Any

    def interpreter(self, *, model_path: str | None = None, model_content: bytes | None = None,
                    threads: int | None = None, xnnpack: bool = True):
        """An Interpreter; xnnpack=False selects the built-in kernels without the default XNNPACK delegate."""
        kwargs: dict[str, Any] = {"num_threads": threads}
        if not xnnpack:
            ort = getattr(self.module, "OpResolverType", None) or getattr(getattr(self.module, "experimental", None), "OpResolverType", None)
            if ort is None:
                raise UserError(f"{self.name} {self.version} cannot switch XNNPACK off")
            kwargs["experimental_op_resolver_type"] = ort.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        Interpreter = self.module.Interpreter
        return Interpreter(model_path=model_path, model_content=model_content, **kwargs)


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
    for name, mod, _ in RUNTIMES:
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
    for rname, mod, dist in RUNTIMES:
        if name and rname != name:
            continue
        try:
            module = importlib.import_module(mod)
            if rname == "tensorflow":
                module = module.lite
        except (ImportError, AttributeError) as exc:
            errors.append(f"{rname}: {exc}")
            continue
        return Runtime(rname, _version(dist), module)
    if name and name not in {r[0] for r in RUNTIMES}:
        raise UserError(f"unknown runtime {name!r}; choose one of {', '.join(r[0] for r in RUNTIMES)}")
    raise UserError("no TFLite runtime found; install one with `pip install ai-edge-litert` "
                    "(or `pip install tflite-runtime 'numpy<2'` on 32-bit Arm)" + (f" [{'; '.join(errors)}]" if name else ""))
