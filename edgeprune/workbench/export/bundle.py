"""`edgeprune export`: TFLite files a device will run, each loaded, run and checked before it is kept."""
from __future__ import annotations

import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import __version__
from ...device.bench import run_child
from ...device.measure import Spec, gzip_size
from ...device.testdata import LABELS_FILE, TESTSET_FILE
from ...errors import UserError, short
from ...formats import check_names
from ...options.export import ExportOptions
from ...formats import get as get_format
from ...jsonio import atomic_write_bytes, atomic_write_text, to_jsonable, write_json
from ...paths import check_replaceable, replace_dir
from ...progress import Reporter, Silent
from ...records import ExportRecord, ExportRow, ModelCard
from ...workspace import Run, output_folder
from ..metrics.evaluate import predict
from ..metrics.macs import count_macs
from ..metrics.size_floor import floor_bytes, measured_sparsity
from ..modelio import load_model
from ..run_files import run_data, versions
from .convert import convert, quantizer_file
from .quantize import check_options as check_quantizer_options

IO_TYPES = ("uint8", "int8", "float32")
SPARSE_AUTO_THRESHOLD = 0.5
EXPORT_FILE = "export.json"
BUNDLE_KINDS = (ExportRecord.KIND,)


@dataclass
class ExportResult:
    bundle: Path
    rows: list[ExportRow]
    failed: list[str]


def _verify(path: Path, testset: Path, threads: int | None) -> dict:
    """Run the file in the bench's runtime with XNNPACK on and off; predictions from the XNNPACK run."""
    out = {}
    for xnn in (True, False):
        res = run_child(Spec(model=str(path), threads=threads, xnnpack=xnn, data=str(testset), warmup=1, runs=3,
                             predictions=True), timeout_s=900)
        out[xnn] = res
    return out


def export(run: Run, workspace: Path, opts: ExportOptions, reporter: Reporter | None = None) -> ExportResult:
    reporter = reporter or Silent()
    check_names(opts.formats)
    if opts.sparse not in ("auto", "on", "off", "both"):
        raise UserError(f"--sparse must be auto, on, off or both, got {opts.sparse!r}")
    if opts.io not in IO_TYPES:
        raise UserError(f"--io must be one of {', '.join(IO_TYPES)}, got {opts.io!r}")
    if "int8" in opts.formats and opts.calib < 1:
        raise UserError("int8 needs calibration images: use --calib N with N > 0 (default 200)")
    check_quantizer_options(opts.formats, opts.max_kb)
    bundle = output_folder(workspace, "export bundle", opts.out, run.name)
    check_replaceable(bundle, force=opts.force, marker=EXPORT_FILE, kinds=BUNDLE_KINDS, what="export bundle")
    info = run.info
    model = load_model(run.model)
    manifest, data = run_data(run, workspace, reporter)
    sparsity = measured_sparsity(model)
    sparse_modes = {"on": [True], "off": [False], "both": [False, True],
                    "auto": [sparsity >= SPARSE_AUTO_THRESHOLD]}[opts.sparse]
    staging = bundle.with_name(f".{bundle.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        test = data["test"]
        buf = io.BytesIO()
        np.savez_compressed(buf, x=test.x, y=test.y.astype(np.int64))
        atomic_write_bytes(staging / TESTSET_FILE, buf.getvalue())
        atomic_write_text(staging / LABELS_FILE, "\n".join(manifest.classes) + "\n")
        keras_pred = np.argmax(predict(model, test.x), axis=1)
        keras_acc = float(np.mean(keras_pred == test.y))
        rng = np.random.default_rng(opts.seed)
        calib = data["train"].x[rng.permutation(len(data["train"].x))[: opts.calib]]
        rows, failed = [], []
        # a format whose table row allows no sparse encoding is written dense whatever --sparse says
        jobs = list(dict.fromkeys((f, s and get_format(f).sparse_allowed) for f in opts.formats for s in sparse_modes))
        reporter.task("converting and verifying", len(jobs))
        while jobs:
            fmt, sparse = jobs.pop(0)
            row = _export_one(model, fmt, sparse, calib, opts, staging, keras_pred, keras_acc, data.get("val"))
            rows.append(row)
            if not row["kept"]:
                if opts.sparse == "auto" and sparse and not row["runs_xnnpack"] and row["bytes"]:
                    # sparse encoding of this format does not run under XNNPACK: keep the dense encoding instead.
                    # A replacement by design, not a failure: one plain line (the runtime's text stays in `error`).
                    row["note"] = (f"XNNPACK cannot run the sparse {fmt} encoding, so the dense encoding was written "
                                   f"instead ({get_format(fmt).file_name(False)})")
                    jobs.insert(0, (fmt, False))
                    reporter.log(f"{row['file']} not kept (--sparse auto): {row['note']}")
                    continue
                failed.append(row["file"])
            reporter.advance(1)
        reporter.done()
        card = {
            "classes": manifest.classes,
            "input": {"height": info.image_size, "width": info.image_size, "channels": 3,
                      "pixels": "raw RGB 0-255 (the model rescales inside)"},
            "files": {r["file"]: r.get("input") for r in rows if r["kept"]},
            "source_run": {"name": run.name, "path": str(run.path.resolve()), "kind": info.kind,
                           "arch": info.arch, "params": info.params, "nonzero_params": info.nonzero_params,
                           "val_accuracy": info.val_accuracy, "test_accuracy": info.test_accuracy,
                           "pruning": info.pruning.to_dict(), "split_hash": manifest.hash, "method": info.method,
                           "sparsity": info.sparsity or 0.0, "macs": info.macs or count_macs(model),
                           "control": info.control.to_dict() if info.control else None,
                           "parent": info.parent.name if info.parent else None, "options": info.options,
                           "vs_control": info.vs_control, "test_correct": info.test_correct,
                           "scratch": info.scratch, "vs_scratch": info.vs_scratch},
            "keras_test_accuracy": keras_acc,
            "measured_sparsity": sparsity,
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        card_rec = ModelCard.from_dict(to_jsonable(card), str(staging / "model.json"))
        rows = [ExportRow.from_dict(to_jsonable(r), f"export row {r['file']}") for r in rows]
        exp = ExportRecord(run=run.name, keras_test_accuracy=keras_acc, n_test=int(len(test.y)),
                           measured_sparsity=sparsity, sparse_mode=opts.sparse, edgeprune=__version__, files=rows)
        write_json(staging / "model.json", card_rec.to_dict())
        write_json(staging / EXPORT_FILE, exp.to_dict())
        replace_dir(staging, bundle, force=opts.force, marker=EXPORT_FILE, kinds=BUNDLE_KINDS, what="export bundle")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(bundle, rows, failed)


def _export_one(model, fmt: str, sparse: bool, calib, opts: ExportOptions, staging: Path, keras_pred, keras_acc,
                val=None) -> dict:
    """Convert one variant into staging, verify it, and delete it again unless it runs and agrees."""
    name = get_format(fmt).file_name(sparse)
    row = {"file": name, "format": fmt, "sparse": sparse, "io": opts.io if fmt == "int8" else "float32",
           "bytes": None, "gzip_bytes": None, "accuracy": None, "agreement": None, "accuracy_change": None,
           "runs_xnnpack": False, "runs_reference": False, "kept": False, "error": None}
    try:
        if get_format(fmt).quantizer:  # LiteRT's quantizer, from the fp32 bytes; mixed records its per-layer choice
            blob, made = quantizer_file(model, fmt, calib, opts.max_kb, val.x if val is not None else None,
                                        val.y if val is not None else None, opts.threads)
        else:
            blob, made = convert(model, fmt, sparse, calib, opts.io), {}
        row.update(made)
    except UserError:
        raise
    except Exception as exc:
        row["error"] = f"conversion failed: {short(exc)}"
        return row
    path = staging / name
    atomic_write_bytes(path, blob)
    row["bytes"], row["gzip_bytes"] = len(blob), gzip_size(blob)
    fl = floor_bytes(model, fmt, {r["layer"]: r["bits"] for r in made.get("quantizer", {}).get("mixed", {}).get("layers", [])
                                  if r.get("layer")})
    row.update(naive_bound_bytes=fl["naive_bound_bytes"], entropy_floor_bytes=fl["entropy_floor_bytes"],
               gzip_over_entropy_floor=row["gzip_bytes"] / max(1, fl["entropy_floor_bytes"]))
    res = _verify(path, staging / TESTSET_FILE, opts.threads)
    row["runs_xnnpack"], row["runs_reference"] = bool(res[True].get("ok")), bool(res[False].get("ok"))
    good = res[True] if res[True].get("ok") else None
    if good:
        preds = np.asarray(good["predictions"])
        row["accuracy"] = good["accuracy"]
        row["agreement"] = float(np.mean(preds == keras_pred))
        row["accuracy_change"] = row["accuracy"] - keras_acc
        row["input"] = good["input"]
        if row["runs_reference"]:
            row["agreement_reference"] = float(np.mean(np.asarray(res[False]["predictions"]) == keras_pred))
    errors = [f"XNNPACK {'on' if k else 'off'}: {v['error']}" for k, v in res.items() if not v.get("ok")]
    need = get_format(fmt).agreement_required
    if good and need is not None and row["agreement"] < need:
        errors.append(f"agrees with the Keras model on {100 * row['agreement']:.2f}% of test images, "
                      f"below the required {100 * need:.1f}%")
    row["error"] = "; ".join(errors) or None
    if not row["runs_xnnpack"] or (need is not None and row["agreement"] < need):
        path.unlink()  # cannot run where users run it, or is wrong: not left in the bundle as if it were good
    else:
        row["kept"] = True
    return row
