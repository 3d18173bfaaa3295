"""Issue 23: how well a latency table predicts a graph model (ResNet-20, MobileNetV2) on random group widths it was
not fitted on. Reads the tables benchmarks/graph_latency.sh measured; writes benchmarks/results/graph_latency/
summary.json (per model and format: the segments, the fit, and each held-out variant predicted against measured)."""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.device.sysinfo import cpu_id, device_mismatch  # noqa: E402
from edgeprune.jsonio import write_json  # noqa: E402
from edgeprune.latency.model import LatencyModel, describe, median_abs_error  # noqa: E402
from edgeprune.readers import read_latency_table, read_run  # noqa: E402

OUT = ROOT / "benchmarks/results/graph_latency"
MODELS = {"r20-32": "ResNet-20 at 32 px", "mnv2-64": "MobileNetV2 (alpha 1.0) at 64 px"}


def passes(table, again_path: Path | None) -> int:
    """The passes every file of the table (and of its second run) got; a table left half-extended (an interrupted
    `latency measure --passes N`) is refused: run graph_latency.sh again to finish it."""
    tables = [table] + ([read_latency_table(again_path)] if again_path else [])
    counts = {len(r.p50_passes or [1]) for t in tables for r in t.rows if not r.error}
    if len(counts) != 1:
        raise SystemExit(f"the tables' files got {sorted(counts)} passes: finish them (bash benchmarks/graph_latency.sh)")
    return counts.pop()


APART = 1.3  # two times of one file this far apart are counted as disagreeing
SLOW = 1.5  # a pass this much slower than the file's fastest is counted as a slow pass


def slow_passes(table, fmt: str) -> dict:
    """How many of the format's files had a pass at least SLOW x their fastest (the machine's slow spells)."""
    names = {f.file for f in table.probe.files if f.format == fmt}
    rows = [r for r in table.rows if r.file in names and r.time_ms and len(r.p50_passes or []) > 1]
    return {"files": len(rows), "with_a_slow_pass": sum(1 for r in rows if max(r.p50_passes) >= SLOW * r.time_ms),
            "slow_ratio": SLOW}


def remeasure(table, again, fmt: str) -> dict:
    """The held-out variants timed a second time (the same files, another `latency measure` run): how far apart two
    measurements of one file land is the floor under the prediction error this machine can resolve."""
    why = device_mismatch(table.device, again.device, ("the table", "the second table"))
    if why:
        raise SystemExit(f"the second table was measured elsewhere ({why}): measure the probe again here")
    first, second = LatencyModel(table, fmt).check(), LatencyModel(again, fmt).check()
    if [r.file for r in first] != [r.file for r in second]:
        raise SystemExit("the second table times other variants: measure the same probe folder again")
    diffs = [abs(b.measured / a.measured - 1) for a, b in zip(first, second)]  # relative to the first
    # every file of the format, segments included: how many came out more than 30 % apart in the two runs
    t1, t2 = ({r.file: r.time_ms for r in t.rows if r.time_ms} for t in (table, again))
    mine = [f.file for f in table.probe.files if f.format == fmt and f.file in t1 and f.file in t2]
    apart = sum(1 for f in mine if max(t1[f], t2[f]) > APART * min(t1[f], t2[f]))
    return {"measured_ms": [r.measured for r in second], "median_abs_difference": statistics.median(diffs),
            "files": len(mine), "files_apart": apart, "apart_ratio": APART,
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
                        "dense_predicted_ms": lat.predict(lat.widths), "slow_passes": slow_passes(table, fmt),
                        "rows": [{"file": r.file, "predicted_ms": r.predicted, "measured_ms": r.measured,
                                  "error": r.error} for r in rows]}
        if again is not None:
            formats[fmt]["remeasured"] = remeasure(table, read_latency_table(again), fmt)
    return {"name": name, "title": MODELS[name], "arch": run.arch, "image_size": run.image_size, "params": run.params,
            "macs": run.macs, "probe": kinds, "round_to": probe.round_to, "device": table.device,
            "describe": describe(table), "threads": table.threads,
            # how a file's time was read from its passes (earlier summaries: the median; LatencyRow.time_ms)
            "estimator": "fastest pass", "passes": passes(table, again),
            "probe_seconds": (probe.extra or {}).get("seconds"), "formats": formats}


def earlier_name(dev: dict) -> str:
    return "earlier-" + re.sub(r"[^A-Za-z0-9]+", "-", cpu_id(dev) or dev.get("cpu") or "cpu").strip("-") + ".json"


def keep_earlier(path: Path, models: list[dict]) -> None:
    """A summary measured on another CPU stays, as earlier-<its CPU>.json (tables are per device); this CPU's own
    earlier file, if any, is replaced by the new summary."""
    if not models:
        raise SystemExit("no table to summarise: run benchmarks/graph_latency.sh")
    dev = models[0]["device"]
    (path.parent / earlier_name(dev)).unlink(missing_ok=True)
    if not path.is_file():
        return
    old = json.loads(path.read_text()).get("models") or []
    if old and device_mismatch(old[0]["device"], dev):
        path.rename(path.with_name(earlier_name(old[0]["device"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks/work/graph-latency")
    ap.add_argument("--again", action="append", default=[], metavar="NAME=TABLE",
                    help="a second table of the model's probe (e.g. r20-32=/tmp/r20-again.json): the variants' "
                         "re-measured times give the noise floor of the error")
    args = ap.parse_args()
    again = dict(a.split("=", 1) for a in args.again if "=" in a)
    if len(again) != len(args.again) or set(again) - set(MODELS):
        raise SystemExit(f"--again takes NAME=TABLE, NAME one of {', '.join(MODELS)}")
    models = [summary(args.work, n, Path(again[n]) if n in again else None) for n in MODELS
              if (args.work / f"{n}-table.json").is_file()]
    OUT.mkdir(parents=True, exist_ok=True)
    keep_earlier(OUT / "summary.json", models)
    write_json(OUT / "summary.json", {"issue": 23, "command": "bash benchmarks/graph_latency.sh", "models": models})
    for m in models:
        print(m["title"], {f: round(v["median_abs_error"], 4) for f, v in m["formats"].items()})


if __name__ == "__main__":
    main()
