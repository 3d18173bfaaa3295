"""Issue 23: how well a latency table predicts a graph model (ResNet-20, MobileNetV2) on random group widths it was
not fitted on. Reads the tables benchmarks/graph_latency.sh measured; writes benchmarks/results/graph_latency/
summary.json (per model and format: the segments, the fit, and each held-out variant predicted against measured)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.latency.model import LatencyModel, describe, median_abs_error  # noqa: E402
from edgeprune.readers import read_latency_table, read_run  # noqa: E402

OUT = ROOT / "benchmarks/results/graph_latency"
MODELS = {"r20-32": "ResNet-20 at 32 px", "mnv2-64": "MobileNetV2 (alpha 1.0) at 64 px"}


def summary(work: Path, name: str) -> dict:
    table = read_latency_table(work / f"{name}-table.json")
    probe = table.probe
    run = read_run(work / "runs" / name / "run.json")
    kinds = {"segments": len(probe.segments),
             "segments_with_a_width_axis": sum(1 for s in probe.segments if s.producer or s.cin_from),
             "groups": len(probe.model.widths), "files": len(probe.files)}
    formats = {}
    for fmt in probe.formats:
        lat = LatencyModel(table, fmt)
        rows = lat.check()
        formats[fmt] = {"a": lat.a, "b": lat.b, "median_abs_error": median_abs_error(rows),
                        "dense_predicted_ms": lat.predict(lat.widths),
                        "rows": [{"file": r.file, "predicted_ms": r.predicted, "measured_ms": r.measured,
                                  "error": r.error} for r in rows]}
    return {"name": name, "title": MODELS[name], "arch": run.arch, "image_size": run.image_size, "params": run.params,
            "macs": run.macs, "probe": kinds, "round_to": probe.round_to, "device": table.device,
            "describe": describe(table), "threads": table.threads,
            "probe_seconds": (probe.extra or {}).get("seconds"), "formats": formats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks/work/graph-latency")
    args = ap.parse_args()
    models = [summary(args.work, n) for n in MODELS if (args.work / f"{n}-table.json").is_file()]
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "summary.json", {"issue": 23, "command": "bash benchmarks/graph_latency.sh", "models": models})
    for m in models:
        print(m["title"], {f: round(v["median_abs_error"], 4) for f, v in m["formats"].items()})


if __name__ == "__main__":
    main()
