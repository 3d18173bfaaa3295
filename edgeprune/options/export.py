"""The options of `edgeprune export`, declared once (the CLI's flags and defaults come from these fields)."""
from __future__ import annotations

from dataclasses import dataclass

from . import opt


@dataclass
class ExportOptions:
    formats: list[str] = opt(factory=lambda: ["fp32", "int8"], items=str,
                             help="Comma-separated formats (the CLI lists them).")
    sparse: str = opt("auto", help="Sparse weight encoding: auto (when sparsity >= 0.5), on, off, both.")
    calib: int = opt(200, help="Training images used to calibrate int8.")
    io: str = opt("uint8", help="int8 input/output type: uint8 (raw pixels), int8 or float32.")
    out: str | None = opt(None, kind=str, short="-o", help="Name or folder of the bundle (default: "
                          "<workspace>/exports/<run>).")
    force: bool = opt(False, help="Replace an existing bundle.")
    threads: int | None = opt(None, cli=False)  # interpreter threads of the verification (None: all cores)
    seed: int = opt(42, cli=False)  # the calibration images' draw
    max_kb: float | None = opt(None, kind=float, help="mixed: the gzip size (kB) to get under, choosing layers for "
                               "int4 weights (the rest int8).")
