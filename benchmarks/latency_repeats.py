"""How much the latency table itself moves between passes on this machine: the probe measured again N times
(`edgeprune latency measure`, same options), and for each pass the median validation error and the predictions for
the widths the budget runs chose. Writes repeats.json beside the summary.

Usage: latency_repeats.py SUMMARY TABLE [TABLE ...]   (tables measured from benchmarks/work/latency/probe)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.latency.model import LatencyModel, median_abs_error  # noqa: E402
from edgeprune.readers import read_latency_table  # noqa: E402


def main(summary_path: str, paths: list[str]) -> None:
    summary = json.loads(Path(summary_path).read_text())
    passes = []
    for p in paths:
        t = read_latency_table(p)
        row = {}
        for fmt in t.probe.formats:
            m = LatencyModel(t, fmt)
            row[fmt] = {"median_abs_error": median_abs_error(m.check())}
        fp = LatencyModel(t, "fp32")
        row["fp32"]["predicted"] = {f"{x['fraction']:g}x": fp.predict(x["widths"]) for x in summary["targets"]}
        passes.append(row)
    out = Path(summary_path).parent / "repeats.json"
    out.write_text(json.dumps({"passes": passes}, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
