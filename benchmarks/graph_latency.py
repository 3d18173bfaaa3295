"""Issue 23: how well a latency table predicts a graph model (ResNet-20, MobileNetV2) on random group widths it was
not fitted on. Reads the tables benchmarks/graph_latency.sh measured; writes benchmarks/results/graph_latency/
summary.json (per model and format: the segments, the fit, and each held-out variant predicted against measured)."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.latency.model import LatencyModel, describe, median_abs_error  # noqa: E402
from edgeprune.readers import read_latency_table, read_run  # noqa: E402

OUT = ROOT / "benchmarks/results/graph_latency"
MODELS = {"r20-32": "ResNet-20 at 32 px", "mnv2-64": "MobileNetV2 (alpha 1.0) at 64 px"}


def remeasure(table, again, fmt: str) -> dict:
    """The held-out variants timed a second time (the same files, another `latency measure` run): how far apart two
    measurements of one file land is the floor under the prediction error this machine can resolve."""
    first, second = LatencyModel(table, fmt).check(), LatencyModel(again, fmt).check()
    if [r.file for r in first] != [r.file for r in second]:
        raise SystemExit("the second table times other variants: measure the same probe folder again")
    diffs = [abs(b.measured / a.measured - 1) for a, b in zip(first, second)]
    return {"measured_ms": [r.measured for r in second], "median_abs_difference": statistics.median(diffs),
            "largest_difference": max(diffs), "median_abs_error": median_abs_error(second)}


def summary(work: Path, name: str, again: Path | None = None) -> dict:
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
        if again is not None:
            formats[fmt]["remeasured"] = remeasure(table, read_latency_table(again), fmt)
    return {"name": name, "title": MODELS[name], "arch": run.arch, "image_size": run.image_size, "params": run.params,
            "macs": run.macs, "probe": kinds, "round_to": probe.round_to, "device": table.device,
            "describe": describe(table), "threads": table.threads,
            "probe_seconds": (probe.extra or {}).get("seconds"), "formats": formats}


def keep_earlier(path: Path, models: list[dict]) -> None:
    """A summary measured on another CPU stays, as earlier-<vendor>-<family>-<model>.json: tables are per device."""
    if not path.is_file() or not models:
        return
    old = json.loads(path.read_text())
    key = ("cpu_vendor", "cpu_family", "cpu_model")
    cpu = [tuple(m["device"].get(k) for k in key) for m in old.get("models", [])][:1]
    if not cpu or cpu[0] == tuple(models[0]["device"].get(k) for k in key):
        return
    path.rename(path.with_name("earlier-{}-{}-{}.json".format(*cpu[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks/work/graph-latency")
    ap.add_argument("--again", action="append", default=[], metavar="NAME=TABLE",
                    help="a second table of the model's probe (e.g. r20-32=/tmp/r20-again.json): the variants' "
                         "re-measured times give the noise floor of the error")
    args = ap.parse_args()
    again = dict(a.split("=", 1) for a in args.again)
    models = [summary(args.work, n, Path(again[n]) if n in again else None) for n in MODELS
              if (args.work / f"{n}-table.json").is_file()]
    OUT.mkdir(parents=True, exist_ok=True)
    keep_earlier(OUT / "summary.json", models)
    write_json(OUT / "summary.json", {"issue": 23, "command": "bash benchmarks/graph_latency.sh", "models": models})
    for m in models:
        print(m["title"], {f: round(v["median_abs_error"], 4) for f, v in m["formats"].items()})


if __name__ == "__main__":
    main()
