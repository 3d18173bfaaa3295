"""Is this session's parent the one the committed budget cells were pruned from?

benchmarks/budget.sh spans sessions, and a session's workspace may not survive it: the parent (cifar-baseline) is then
trained again, and a cell committed earlier belongs to this study only if its parent is the same model. The test is
what can be checked from a summary: the parent's size and which of the 6,000 test photos it answered right.

Usage: budget_parent.py PARENT_RUN_JSON RESULTS_DIR. Exit 0 when every committed summary's parent matches (or there
are none); otherwise one line per cell that does not, and exit 1."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.readers import read_run  # noqa: E402


def mismatches(parent_json: Path, results: Path) -> list[str]:
    parent = read_run(parent_json)
    out = []
    for f in sorted(results.glob("*.json")):
        p = json.loads(f.read_text()).get("parent") or {}
        if p.get("params") != parent.params or p.get("test_correct") != parent.test_correct:
            out.append(f"{f.name}: pruned from another {p.get('name', 'parent')} (test accuracy "
                       f"{100 * (p.get('test_accuracy') or 0):.2f} %, this one {100 * parent.test_accuracy:.2f} %)")
    return out


if __name__ == "__main__":
    bad = mismatches(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(bad))
    sys.exit(1 if bad else 0)
