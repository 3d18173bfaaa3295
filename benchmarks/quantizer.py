"""Issue 26: LiteRT's quantizer against the converter's formats, on the study CNN (dense, weight-90, filter-50) at
32 and 64 px. Writes benchmarks/results/quantizer/results.json; it has not been run yet (it needs the study's trained
runs and a quiet machine: the timings are side by side, but other work widens their intervals).

For each run it exports fp32, fp16, dynamic, int8 (the converter) and wi8, wi4, wi4-block32, a16w8 (the quantizer),
then `mixed` under 0.55x the int8 file's gzip (the issue's goal), each file verified as export always does. Then one
bench of every file in interleaved rounds at the bench's defaults, with every test image's top-1 kept. Per file:
bytes, gzip, gzip over the naive bound and over the entropy floor, file accuracy and its paired difference from the
same model's int8 file (± s.e., 95 % interval, McNemar p), p50 with its 95 % interval, and the speed-up against the
same model's fp32 and int8 files (their p50 over this file's: the median of per-round ratios, bootstrap interval).

    .venv/bin/python benchmarks/quantizer.py --workspace benchmarks/work/runs \\
        --run 32:dense=cifar-baseline --run 32:weight-90=cifar-baseline-weight-90 \\
        --run 32:filter-50=cifar-baseline-filter-50 --run 64:dense=cifar64-baseline ...

A run that is missing is reported and skipped (make it with `edgeprune train`/`prune` first); `--prepare` exports
only (no timing, so it may run on a busy machine); a second call re-uses the bundles it finds.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.device.bench import BenchOptions, bench  # noqa: E402
from edgeprune.device.intervals import bootstrap_ci, paired_ratios, resolved  # noqa: E402
from edgeprune.device.testdata import TESTSET_FILE, load_npz  # noqa: E402
from edgeprune.errors import UserError  # noqa: E402
from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.paired_accuracy import paired_difference  # noqa: E402
from edgeprune.workbench.export.bundle import EXPORT_FILE, ExportOptions, export  # noqa: E402
from edgeprune.workspace import resolve_run  # noqa: E402

OUT = ROOT / "benchmarks/results/quantizer"
CONVERTER = ["fp32", "fp16", "dynamic", "int8"]
QUANTIZER = ["wi8", "wi4", "wi4-block32", "a16w8"]
MIXED_OF_INT8 = 0.55  # the goal: an int4 or mixed dense file at most 0.55x the int8 file's gzip
DEFAULT_RUNS = ["32:dense=cifar-baseline", "32:weight-90=cifar-baseline-weight-90",
                "32:filter-50=cifar-baseline-filter-50", "64:dense=cifar64-baseline",
                "64:weight-90=cifar64-baseline-weight-90", "64:filter-50=cifar64-baseline-filter-50"]


def parse_run(text: str) -> tuple[int, str, str]:
    try:
        px, rest = text.split(":", 1)
        label, run = rest.split("=", 1)
        return int(px), label, run
    except ValueError:
        raise SystemExit(f"--run takes PX:LABEL=RUN, e.g. 32:dense=cifar-baseline; got {text!r}") from None


def bundles_for(ws: Path, px: int, label: str, run_name: str, calib: int, skip: tuple[str, ...] = ()
                ) -> tuple[list[Path], dict]:
    """The run's two bundles (every fixed format but ``skip``; mixed under 0.55x int8), exported unless there."""
    run = resolve_run(run_name, ws)
    if run.info.image_size != px:
        raise UserError(f"{run_name} is a {run.info.image_size} px model, listed as {px} px")
    main = ws / "exports" / f"quantizer-{px}-{label}"
    if not (main / EXPORT_FILE).is_file():
        export(run, ws, ExportOptions(formats=[f for f in CONVERTER + QUANTIZER if f not in skip], calib=calib,
                                      out=str(main), force=True))
    doc = json.loads((main / EXPORT_FILE).read_text())
    int8 = next((f for f in doc["files"] if f["format"] == "int8" and f["kept"]), None)
    bundles, notes = [main], {"run": run_name, "image_size": px, "epochs_run": run.info.epochs_run,
                              "fine_tuned": run.info.parent is not None}
    if skip:
        notes["formats_not_made"] = list(skip)
    if int8:
        max_kb = MIXED_OF_INT8 * int8["gzip_bytes"] / 1024
        notes["mixed_max_kb"] = max_kb
        mixed = ws / "exports" / f"quantizer-{px}-{label}-mixed"
        side = mixed.with_name(mixed.name + ".retry.json")  # what a retry said, for the reruns that skip the export
        try:
            if not (mixed / EXPORT_FILE).is_file():
                side.unlink(missing_ok=True)
                try:
                    export(run, ws, ExportOptions(formats=["mixed"], calib=calib, max_kb=max_kb, out=str(mixed),
                                                  force=True))
                except UserError as exc:  # nothing that small: the error names the smallest size reachable
                    reach = re.search(r"smallest reachable is ([0-9.]+) kB", str(exc))
                    if not reach:
                        raise
                    # a sparse model, whose int8 file gzip had already shrunk: halfway from all-int4 to int8
                    retry = (float(reach.group(1)) + int8["gzip_bytes"] / 1024) / 2
                    write_json(side, {"mixed_error": str(exc), "mixed_retry_max_kb": retry})
                    export(run, ws, ExportOptions(formats=["mixed"], calib=calib, max_kb=retry, out=str(mixed),
                                                  force=True))
            if side.is_file():
                notes.update(json.loads(side.read_text()))
            bundles.append(mixed)
        except UserError as exc:
            notes["mixed_error"] = str(exc)
    return bundles, notes


def rows_of(bundle: Path) -> dict[str, dict]:
    doc = json.loads((bundle / EXPORT_FILE).read_text())
    return {f["file"]: f for f in doc["files"] if f["kept"]}


def speedup(ref: dict, row: dict) -> dict | None:
    """The reference's p50 over this file's, round by round (both measured in the same round): the median and its
    bootstrap interval; above 1, this file is faster."""
    if not ref or not row or not ref.get("p50_rounds") or not row.get("p50_rounds"):
        return None
    r = paired_ratios(ref["p50_rounds"], row["p50_rounds"])
    if not r:
        return None
    ci = bootstrap_ci(r) if len(r) > 1 else None
    return {"median": float(np.median(r)), "ci95": list(ci) if ci else None, "resolved": resolved(ci) if ci else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=ROOT / "benchmarks/work/runs")
    ap.add_argument("--run", action="append", help="PX:LABEL=RUN (repeat); default: the study's six")
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prepare", action="store_true", help="export only: no timing")
    ap.add_argument("--skip", action="append", default=[], choices=CONVERTER + QUANTIZER,
                    help="a format not to make (repeat); recorded with the model, and said in the section")
    ap.add_argument("--out", type=Path, default=OUT / "results.json")
    args = ap.parse_args()
    ws = args.workspace.resolve()
    models, skipped, files = [], {}, []
    for px, label, name in map(parse_run, args.run or DEFAULT_RUNS):
        try:
            bundles, notes = bundles_for(ws, px, label, name, args.calib, tuple(args.skip))
        except UserError as exc:
            skipped[f"{px}:{label}"] = str(exc)
            print(f"skipped {px}:{label}: {exc}", file=sys.stderr)
            continue
        models.append({"key": f"{px}:{label}", "bundles": [str(b) for b in bundles], **notes})
        files += [b / f for b in bundles for f in rows_of(b)]
    if args.prepare or not files:
        print(f"{len(files)} files exported in {len(models)} models; skipped: {skipped or 'none'}")
        return
    t0 = time.time()
    res = bench(files, BenchOptions(threads=[args.threads], predictions=True))
    bench_s = time.time() - t0
    measured = {str(Path(r.model).resolve()): r.to_dict() for r in res.rows}
    out_models = []
    for m in models:
        files_out, by_format = [], {}
        for b in map(Path, m["bundles"]):
            y = load_npz(b / TESTSET_FILE)[1]
            for name, row in rows_of(b).items():
                got = measured.get(str((b / name).resolve()), {})
                pred = got.get("predictions")
                correct = (np.asarray(pred) == y) if pred is not None and len(pred) == len(y) else None
                entry = {"file": f"{b.name}/{name}", "format": row["format"], "sparse": row.get("sparse"),
                         "bytes": row["bytes"], "gzip_bytes": row["gzip_bytes"],
                         "naive_bound_bytes": row.get("naive_bound_bytes"),
                         "entropy_floor_bytes": row.get("entropy_floor_bytes"),
                         "gzip_over_naive_bound": row["gzip_bytes"] / row["naive_bound_bytes"] if row.get("naive_bound_bytes") else None,
                         "gzip_over_entropy_floor": row.get("gzip_over_entropy_floor"),
                         "accuracy": float(correct.mean()) if correct is not None else got.get("accuracy"),
                         "agreement_with_keras": row.get("agreement"),
                         "p50_ms": (got.get("latency_ms") or {}).get("p50"), "p50_ci": got.get("p50_ci"),
                         "error": got.get("error"), "quantizer": row.get("quantizer")}
                files_out.append(entry)
                by_format[row["format"]] = (entry, got, correct)
        base8 = by_format.get("int8")
        for entry in files_out:
            _, got, correct = by_format[entry["format"]]
            if base8 and base8[2] is not None and correct is not None and entry["format"] != "int8":
                entry["vs_int8_paired"] = paired_difference(correct, base8[2]).to_dict()
            for ref in ("fp32", "int8"):
                if ref in by_format and entry["format"] != ref:
                    entry[f"speedup_vs_{ref}"] = speedup(by_format[ref][1], got)
        rejected = [{"file": f"{b.name}/{f['file']}", "format": f["format"], "error": f.get("error")}
                    for b in map(Path, m["bundles"]) for f in json.loads((b / EXPORT_FILE).read_text())["files"]
                    if not f["kept"] and not f.get("sparse")]  # (a sparse file replaced by its dense encoding is no loss)
        out_models.append({**m, "files": files_out, "rejected": rejected})
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    measured_by = {"created": created, "device": res.device, "threads": args.threads, "bench_seconds": round(bench_s, 1)}
    for m in out_models:
        m["bench"] = measured_by  # which bench call timed this model's files (ratios are within one model: one call)
    # a call that times one image size keeps the other sizes' models, each with the call that timed it
    sizes = {m["image_size"] for m in out_models}
    kept = []
    if args.out.is_file():
        kept = [m for m in json.loads(args.out.read_text()).get("models", []) if m.get("image_size") not in sizes]
    doc = {"issue": 26, "created": created, "mixed_of_int8": MIXED_OF_INT8,
           "models": sorted(kept + out_models, key=lambda m: (m["image_size"], m["key"])), "skipped": skipped}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, doc)
    print(f"wrote {args.out} ({sum(len(m['files']) for m in out_models)} files, bench {bench_s:.0f} s)")


if __name__ == "__main__":
    main()
