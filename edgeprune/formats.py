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
    quantizer: str | None = None  # the ai-edge-quantizer recipe that writes it from the fp32 file (None: the converter)
    block: int | None = None  # fully connected weights quantized in blocks of this many inputs (else per channel)

    @property
    def weight_bits(self) -> int:
        return int(round(8 * self.bytes_per_weight))

    def file_name(self, sparse: bool) -> str:
        return f"{self.name}{'-sparse' if sparse else ''}{self.suffix}"


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("fp32", "float32 weights and activations", 4.0, 0.995),
    ExportFormat("fp16", "float16 weights, float32 activations", 2.0, 0.995),
    ExportFormat("dynamic", "int8 weights, float activations (dynamic range)", 1.0, None),
    ExportFormat("int8", "full integer, calibrated on training images", 1.0, None),
    # LiteRT's quantizer (ai-edge-quantizer, the train extra), from the fp32 file; never sparse-encoded. Thresholds from
    # what was measured: on the demo set's 32 px CNN (1,200 test images, 78 % accuracy) wi8 agreed with Keras on 99.4 %
    # and a16w8 on 98.9 % (int8 98.5 %, dynamic 99.9 %); on the tests' near-chance 16 px model (6 test images, output
    # margins of a few hundredths) a16w8 once flipped 1 of 6. 80 % rejects a file that is broken, not one image's noise.
    # int4 agreed on 88.6 % on the demo model (block32 88.7 %): reported only, like dynamic and int8, as is mixed.
    ExportFormat("wi8", "int8 weights per channel, activations quantized on the fly (ai-edge-quantizer)", 1.0, 0.8,
                 sparse_allowed=False, quantizer="dynamic_wi8_afp32"),
    ExportFormat("wi4", "int4 weights per channel, activations quantized on the fly (ai-edge-quantizer)", 0.5, None,
                 sparse_allowed=False, quantizer="dynamic_wi4_afp32"),
    ExportFormat("wi4-block32", "int4 weights, in blocks of 32 inputs in dense layers whose inputs divide into them, else "
                 "per channel (ai-edge-quantizer)", 0.5, None, sparse_allowed=False,
                 quantizer="dynamic_wi4_afp32 + dynamic_wi4b32_afp32 (FC)", block=32),
    ExportFormat("a16w8", "int8 weights, int16 activations calibrated on training images, float32 in/out (ai-edge-quantizer)",
                 1.0, 0.8, sparse_allowed=False, quantizer="static_wi8_ai16"),
    ExportFormat("mixed", "int4 or int8 weights per layer, int4 where it costs least, under --max-kb gzip (ai-edge-quantizer)",
                 1.0, None, sparse_allowed=False, quantizer="dynamic_wi8_afp32 + dynamic_wi4_afp32 per layer"),
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
