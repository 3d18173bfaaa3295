"""Copy what BENCHMARKS.md needs of a run.json into benchmarks/results/ (a small, committed summary).

Usage: summarize_run.py RUN_JSON OUT_JSON. Keeps the record's own keys (read through edgeprune's RunRecord, so a
malformed file is an error here, not a wrong figure later) and drops the model-specific bulk (per-layer tables)."""
from __future__ import annotations

import sys
from pathlib import Path

from edgeprune.jsonio import write_json
from edgeprune.readers import read_run

KEEP = ("version", "kind", "name", "method", "image_size", "options", "val_accuracy", "test_accuracy", "test_correct",
        "sparsity", "params", "nonzero_params", "macs", "macs_before", "epochs_run", "best_epoch", "seconds", "parent",
        "control", "vs_control", "scratch", "vs_scratch", "lr_rewind", "history", "split_hash", "versions")


def summarize(run_json: Path) -> dict:
    rec = read_run(run_json).to_dict()
    out = {k: rec[k] for k in KEEP if k in rec}
    filt = (rec.get("pruning") or {}).get("filter")
    if filt:
        out["filter_steps"] = filt.get("steps")
        out["filters_kept"] = {r["layer"]: r["filters_kept"] for r in filt["layers"]}
    return out


if __name__ == "__main__":
    write_json(Path(sys.argv[2]), summarize(Path(sys.argv[1])))
