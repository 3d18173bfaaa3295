"""Shape checks for the JSON files edgeprune reads back (run.json, export.json, bench JSON, sweep cells,
sensitivity files, checkpoints).

Each file kind has one spec here. A file of the wrong shape is a one-line error naming the file and the key, never a
KeyError or TypeError deep inside a command. Keys that end in "?" may be missing.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UserError


@dataclass(frozen=True)
class Kind:
    name: str
    ok: Callable[[Any], bool]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


INT = Kind("an integer", _is_int)
NUM = Kind("a finite number", _is_num)
STR = Kind("a string", lambda v: isinstance(v, str))
BOOL = Kind("true or false", lambda v: isinstance(v, bool))
DICT = Kind("an object", lambda v: isinstance(v, dict))
LIST = Kind("a list", lambda v: isinstance(v, list))
FRACTION = Kind("a number from 0 to 1", lambda v: _is_num(v) and 0 <= v <= 1)
COUNT = Kind("a whole number >= 0", lambda v: _is_int(v) and v >= 0)
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
FILE_NAME = Kind("a plain file name", lambda v: isinstance(v, str) and bool(_FILE_NAME.match(v)) and ".." not in v)


def opt(k: Kind) -> Kind:
    return Kind(f"{k.name} or null", lambda v: v is None or k.ok(v))


def int_range(lo: int, hi: int) -> Kind:
    return Kind(f"an integer from {lo} to {hi}", lambda v: _is_int(v) and lo <= v <= hi)


def one_of(*values) -> Kind:
    return Kind("one of " + ", ".join(repr(v) for v in values), lambda v: v in values)


def list_of(k: Kind) -> Kind:
    return Kind(f"a list of {k.name.removeprefix('a ').removeprefix('an ')}s",
                lambda v: isinstance(v, list) and all(k.ok(x) for x in v))


def dict_of(k: Kind) -> Kind:
    return Kind(f"an object of {k.name.removeprefix('a ').removeprefix('an ')}s",
                lambda v: isinstance(v, dict) and all(k.ok(x) for x in v.values()))


def shaped(spec: dict[str, Kind], name: str = "an object of the right shape") -> Kind:
    """A nested object checked against its own spec (for list_of(shaped(...)))."""
    def ok(v) -> bool:
        try:
            check(v, spec, "")
        except UserError:
            return False
        return True
    return Kind(name, ok)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check(doc: Any, spec: dict[str, Kind], where: str) -> dict:
    """``doc`` if it is an object whose keys match ``spec``, else a UserError naming the first key that does not."""
    if not isinstance(doc, dict):
        raise UserError(f"{where} is not a JSON object of the expected shape (got {type(doc).__name__})")
    for key, kind in spec.items():
        optional = key.endswith("?")
        k = key.rstrip("?")
        if k not in doc:
            if optional:
                continue
            raise UserError(f"{where} lacks the key {k!r}; it was not written by this edgeprune, or was edited")
        if not kind.ok(doc[k]):
            raise UserError(f"{where}: {k!r} must be {kind.name}, got {_show(doc[k])}")
    return doc


# --- the specs, one per file kind -----------------------------------------------------------------------------------

RUN = {
    "kind": one_of("train", "prune"),
    "image_size": int_range(8, 1024),
    "classes?": list_of(STR),
    "arch?": opt(STR),
    "method?": opt(STR),
    "params?": opt(COUNT),
    "nonzero_params?": opt(COUNT),
    "macs?": opt(COUNT),
    "val_accuracy?": opt(FRACTION),
    "test_accuracy?": opt(FRACTION),
    "sparsity?": opt(FRACTION),
    "options?": DICT,
    "parent?": opt(shaped({"name": STR})),
    "pruning?": opt(DICT),
    "control?": opt(shaped({"test_accuracy": opt(FRACTION)})),
    "data?": opt(DICT),
}

SENSITIVITY = {
    "kind": one_of("edgeprune-sensitivity"),
    "criterion?": STR,
    "baseline_val_accuracy": FRACTION,
    "ratios": list_of(Kind("a number between 0 and 1", lambda v: _is_num(v) and 0 < v < 1)),
    "widths": dict_of(int_range(1, 1 << 20)),
    "layers": dict_of(shaped({"val_accuracy": list_of(FRACTION), "drop": list_of(NUM)})),
}

LATENCY = shaped({"p50": Kind("a positive number", lambda v: _is_num(v) and v > 0),
                  "p99": Kind("a positive number", lambda v: _is_num(v) and v > 0)}, "latency figures")
BENCH_ROW = {
    "model": STR,
    "format?": opt(STR),
    "threads?": opt(int_range(1, 4096)),
    "error?": opt(STR),
    "accuracy?": opt(FRACTION),
    "latency_ms?": opt(LATENCY),
    "device?": opt(DICT),
    "runtime?": opt(DICT),
}
BENCH_FILE = {"kind": one_of("edgeprune-bench"), "results": list_of(DICT)}

EXPORT_ROW = {
    "file": FILE_NAME,
    "format": STR,
    "sparse?": opt(BOOL),
    "bytes?": opt(COUNT),
    "gzip_bytes?": opt(COUNT),
    "floor_bytes?": opt(COUNT),
    "accuracy?": opt(FRACTION),
    "kept": BOOL,
}
EXPORT_FILE = {"kind": one_of("edgeprune-export"), "files": list_of(DICT)}
MODEL_CARD = {"source_run?": opt(DICT)}
SOURCE_RUN = {
    "name?": opt(STR), "parent?": opt(STR), "method?": opt(STR), "params?": opt(COUNT), "nonzero_params?": opt(COUNT),
    "macs?": opt(COUNT), "test_accuracy?": opt(FRACTION), "pruning?": opt(DICT),
    "control?": opt(shaped({"test_accuracy?": opt(FRACTION)})),
}

SWEEP_CELL = {
    "kind": one_of("edgeprune-sweep-cell"),
    "cell": STR,
    "method": STR,
    "value?": opt(NUM),
    "epochs?": opt(COUNT),
    "error?": opt(STR),
    "test_accuracy?": opt(FRACTION),
    "bundles?": list_of(STR),
    "bench?": opt(list_of(DICT)),
}

CHECKPOINT = {
    "epoch": COUNT,
    "history": dict_of(list_of(NUM)),
    "plateau": shaped({"patience": COUNT, "lr_patience": COUNT, "lr_factor": NUM, "min_epochs": COUNT,
                       "best": Kind("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
                       "best_epoch": INT, "wait": COUNT, "lr_wait": COUNT}, "the early-stopping state"),
    "stopped_early": BOOL,
    "seconds": NUM,
    "model_file": FILE_NAME,
    "best_file": opt(FILE_NAME),
}
