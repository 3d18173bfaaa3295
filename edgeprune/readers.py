"""One reader per file kind that edgeprune reads back: each checks the file against its schema (``schema``) and
gives a one-line UserError for a file of the wrong shape. No TensorFlow here: report and bench use these too."""
from __future__ import annotations

import json
from pathlib import Path

from . import schema
from .errors import UserError
from .jsonio import read_json


def read_sensitivity(path: str | Path) -> dict:
    """A file written by `edgeprune sensitivity`: one accuracy and one drop per ratio and layer."""
    if not Path(path).is_file():
        raise UserError(f"sensitivity file not found: {path}")
    sens = read_json(path, what="sensitivity file")
    if not isinstance(sens, dict) or sens.get("kind") != "edgeprune-sensitivity":
        raise UserError(f"{path} is not a file written by `edgeprune sensitivity`")
    schema.check(sens, schema.SENSITIVITY, str(path))
    n = len(sens["ratios"])
    for name, row in sens["layers"].items():
        if len(row["val_accuracy"]) != n or len(row["drop"]) != n:
            raise UserError(f"{path}: layer {name!r} has {len(row['drop'])} values for {n} ratios; "
                            "run `edgeprune sensitivity` again")
    return sens


def check_bench_rows(rows: list, where: str) -> list[dict]:
    for i, row in enumerate(rows):
        schema.check(row, schema.BENCH_ROW, f"{where} (result {i + 1})")
    return rows


def read_bench_file(path: str | Path) -> dict:
    """An edgeprune bench JSON: its kind, and every result row's shape."""
    doc = read_json(path, what="bench results file")
    if not isinstance(doc, dict) or doc.get("kind") != "edgeprune-bench":
        raise UserError(f"{path} is not an edgeprune bench file")
    schema.check(doc, schema.BENCH_FILE, str(path))
    check_bench_rows(doc["results"], str(path))
    return doc


def read_export(folder: str | Path) -> tuple[dict, dict]:
    """A bundle's export.json (every row checked) and its model card (an empty one when model.json is absent)."""
    folder = Path(folder)
    f = folder / "export.json"
    exp = read_json(f, what="export.json")
    if not isinstance(exp, dict) or exp.get("kind") != "edgeprune-export":
        raise UserError(f"{f} is not an edgeprune export file")
    schema.check(exp, schema.EXPORT_FILE, str(f))
    for i, row in enumerate(exp["files"]):
        schema.check(row, schema.EXPORT_ROW, f"{f} (file {i + 1})")
    card: dict = {}
    if (folder / "model.json").is_file():
        card = schema.check(read_json(folder / "model.json", what="model.json"), schema.MODEL_CARD,
                            str(folder / "model.json"))
        schema.check(card.get("source_run") or {}, schema.SOURCE_RUN, f"{folder / 'model.json'} (source_run)")
    return exp, card


def read_sweep_cells(path: str | Path) -> tuple[dict[str, dict], list[str]]:
    """The cells of a sweep's results.jsonl, the last record of each cell counting, and a warning per line that was
    passed over (cut by a kill, or of the wrong shape)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep results not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} cannot be read as text ({exc.__class__.__name__})") from None
    cells: dict[str, dict] = {}
    skipped: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = schema.check(json.loads(line), schema.SWEEP_CELL, f"{path} line {n}")
            if d.get("bench"):
                check_bench_rows(d["bench"], f"{path} line {n}")
        except (ValueError, RecursionError) as exc:
            skipped.append(f"{path} line {n}: not JSON ({exc.__class__.__name__}); passed over")
            continue
        except UserError as exc:
            skipped.append(f"{exc}; passed over")
            continue
        cells[d["cell"]] = d
    if not cells and not skipped:
        raise UserError(f"{path} holds no sweep cells")
    return cells, skipped
