"""What every section uses: where the results are, reading them, and formatting tables and figures."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RES = ROOT / "benchmarks" / "results"

# The goals the issues set, the only figures typed here: a section compares what it measured against them.
# tests/test_benchmarks_doc.py fails on a number typed into a generator's text; these are read from this table.
GOALS = {
    "pipeline_ratio": 1.15,  # issue 2: a cached JPEG-folder epoch at most 1.15x the in-memory one
    "filter_ratio": 0.5,  # issue 4: at --ratio 0.5 (uniform) ...
    "filter_latency": 0.40,  # ... the fp32 file runs at most 0.40x the dense latency
    "harness_ratio": 1.03,  # issue 6: the bench's p50 within 3 % of a bare set_tensor/invoke loop
    "prediction_error": 0.10,  # issue 13: median absolute error of the latency table at most 10 %
    "target_ratio": 1.05,  # issue 13: measured p50 at most 1.05x the target
    "equal_latency": 0.05,  # issue 13: "equal measured latency" means within 5 %
    "resolution": 0.03,  # issue 17: identical files agree within 3 % at the bench's defaults
    "int4_gzip_of_int8": 0.55,  # issue 26: an int4 or mixed dense file at most 0.55x the int8 file's gzip ...
    "int4_points_below_int8": 1.0,  # ... at most 1.0 point of file accuracy below the int8 file (paired)
    # issue 23: filter pruning of graphs at ratio 0.5 / --target-ms 0.5x, measured speed-up over the dense file ...
    "graph_speedup": {"fp32": 1.8, "int8": 1.5},
    "graph_vs_control": {"r20": -1.0, "mnv2": -2.0},  # ... and pruned minus control, in points (paired)
    # issue 23's anchor (Torch-Pruning's, not measured here): ResNet-56 on CIFAR-10, points at MACs reduction, epochs
    "torch_pruning_anchor": {"points": -0.07, "macs_x": 2.11, "epochs": 100},
    # issue 14: the best variant of each model against its own control, in points
    "recovery": {("filter", 0.5): -1.5, ("weight", 0.9): -3.0, ("filter", 0.7): -6.0},
}


def load(p):
    return json.loads(Path(p).read_text())


def md_table(cols, rows):
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"] +
                     ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}"


def ms_ci(ms: float | None, ci: list | None, digits: int = 3) -> str:
    """A p50 in milliseconds with its 95 % interval when it has one; '-' when not measured."""
    if ms is None:
        return "-"
    return f"{ms:.{digits}f}" + (f" [{ci[0]:.{digits}f}-{ci[1]:.{digits}f}]" if ci else "")


def within(value: float, limit: float) -> str:
    """'met' or 'not met': a measured figure against an upper goal."""
    return "met" if value <= limit else "not met"


def p_value(p: float) -> str:
    """A p-value in two significant digits; one below what a double holds reads as such, not as 0."""
    return f"{p:.2g}" if p > 0 else "< 1e-300"


def paired(d) -> str:
    """A paired difference (a dict from JSON or a PairedDifference) as 'points ± s.e. (p McNemar)'; '-' when absent."""
    if not d:
        return "-"
    get = d.get if isinstance(d, dict) else lambda k: getattr(d, k)
    return f"{100 * get('diff'):+.2f} ± {100 * get('se'):.2f} (p {p_value(get('mcnemar_p'))})"


def jsonl(path: Path) -> dict[str, dict]:
    """A results.jsonl by cell, the last record of a cell counting (a retried failure)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        d = json.loads(line)
        out[d["cell"]] = d
    return out


def machine(dev: dict) -> str:
    """A bench's or table's device in words: the CPU, its vendor, family and model (or Arm part), its ISA."""
    cpu = " ".join(str(dev.get(k)) for k in ("cpu",) if dev.get(k))
    ident = ", ".join(f"{k.removeprefix('cpu_')} {dev[k]}" for k in
                      ("cpu_vendor", "cpu_family", "cpu_model", "cpu_stepping", "cpu_implementer", "cpu_part")
                      if dev.get(k) is not None) or "no family or model recorded"
    if dev.get("isa"):
        ident += "; " + " ".join(dev["isa"])
    return f"{cpu} ({ident})"
