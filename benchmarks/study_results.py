"""Copy what BENCHMARKS.md needs of the study (benchmarks/study.sh) into benchmarks/results/study/: small files,
committed, from which benchmarks/sections.py writes the study's sections.

    .venv/bin/python benchmarks/study_results.py [--work benchmarks/work]

- baseline.json: the baseline run's summary (benchmarks/summarize_run.py) with its data counts and BatchNorm check;
- sweep/results.jsonl and seeds/results.jsonl, and each bundle's export.json and model.json under sweep/exports/
  (the TFLite files and test sets stay in the work folder);
- bench.json (the bench of every file in interleaved rounds), sensitivity.json, seconds.json.
Every file is read through edgeprune's readers first, so a malformed one is an error here, not a wrong figure later.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from summarize_run import summarize

from edgeprune.jsonio import write_json
from edgeprune.readers import read_bench_file, read_export, read_run, read_sweep_cells

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "study"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work")
    a = ap.parse_args()
    w = a.work
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    base_json = w / "runs" / "cifar-baseline" / "run.json"
    base = summarize(base_json)
    rec = read_run(base_json).to_dict()
    base["data"] = {"counts": rec["data"]["counts"]}
    base["bn_recalibration"] = rec["bn_recalibration"]
    write_json(OUT / "baseline.json", base)
    for sweep in ("sweep", "seeds"):
        src = w / sweep / "results.jsonl"
        read_sweep_cells(src)
        (OUT / sweep).mkdir()
        shutil.copyfile(src, OUT / sweep / "results.jsonl")
    for bundle in sorted((w / "sweep" / "exports").iterdir()):
        if (bundle / "export.json").is_file():
            read_export(bundle)
            dst = OUT / "sweep" / "exports" / bundle.name
            dst.mkdir(parents=True)
            for name in ("export.json", "model.json"):
                shutil.copyfile(bundle / name, dst / name)
    read_bench_file(w / "bench.json")
    shutil.copyfile(w / "bench.json", OUT / "bench.json")
    shutil.copyfile(w / "sensitivity.json", OUT / "sensitivity.json")
    secs = {k: int((w / f"{k}.txt").read_text()) for k in ("train_seconds", "bench_seconds") if (w / f"{k}.txt").is_file()}
    write_json(OUT / "seconds.json", secs)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"benchmarks/results/study/: {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
