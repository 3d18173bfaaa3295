"""What every section uses: where the results are, reading them, and formatting tables and figures."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RES = ROOT / "benchmarks" / "results"


def load(p):
    return json.loads(Path(p).read_text())


def md_table(cols, rows):
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"] +
                     ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}"



def p_value(p: float) -> str:
    """A p-value in two significant digits; one below what a double holds reads as such, not as 0."""
    return f"{p:.2g}" if p > 0 else "< 1e-300"


def jsonl(path: Path) -> dict[str, dict]:
    """A results.jsonl by cell, the last record of a cell counting (a retried failure)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        d = json.loads(line)
        out[d["cell"]] = d
    return out
