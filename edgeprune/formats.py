"""The export formats, one table: what export writes, what the size floor counts, how report orders and bench names
them (as Ultralytics' ``export_formats()`` drives export, checks and benchmarks). No TensorFlow here.

A new format is one row here and its conversion in ``workbench/export/convert.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str
    bytes_per_weight: float  # what one stored weight costs (the size floor's unit)
    agreement_required: float | None  # share of test images whose top-1 must equal Keras' (None: reported only)
    sparse_allowed: bool = True  # may be written with sparse weight encoding
    suffix: str = ".tflite"

    def file_name(self, sparse: bool) -> str:
        return f"{self.name}{'-sparse' if sparse else ''}{self.suffix}"


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("fp32", "float32 weights and activations", 4.0, 0.995),
    ExportFormat("fp16", "float16 weights, float32 activations", 2.0, 0.995),
    ExportFormat("dynamic", "int8 weights, float activations (dynamic range)", 1.0, None),
    ExportFormat("int8", "full integer, calibrated on training images", 1.0, None),
)}


def get(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise UserError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[name]


def check_names(names: list[str], option: str = "--formats") -> list[str]:
    if not names:
        raise UserError(f"{option} is empty; choose from {', '.join(FORMATS)}")
    for n in names:
        if n not in FORMATS:
            raise UserError(f"{option}: unknown format {n!r}; choose from {', '.join(FORMATS)}")
    return names


def order(name: str) -> int:
    """The table's order (fp32 first), for sorting rows; unknown formats last."""
    names = list(FORMATS)
    return names.index(name) if name in names else len(names)


def from_file_name(stem: str) -> tuple[str, bool | None]:
    """The format and sparse flag a file name suggests, for a file without its bundle's export.json."""
    s = stem.lower()
    for name in sorted(FORMATS, key=len, reverse=True):
        if name in s:
            return name, "sparse" in s
    return stem, None
