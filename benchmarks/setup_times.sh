#!/usr/bin/env bash
# The README's two set-up figures, measured: `make test` and `make demo` from a fresh clone of this repository (the
# venv installed first, untimed, so both figures are of the work itself), the demo's dense test accuracy, its pruned
# models and the paired s.e. of its pruned-minus-control difference. Writes benchmarks/results/setup_times.json.
# Run it with nothing else on the machine: `bash benchmarks/setup_times.sh` (both), `PART=test` or `PART=demo` (one;
# the other's figures already in the file are kept, each with the commit it was measured at).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PART=${PART:-both}
case $PART in test|demo|both) ;; *) echo "PART must be test, demo or both, not $PART" >&2; exit 2;; esac
d=$(mktemp -d)
git clone -q "$ROOT" "$d/repo"
cd "$d/repo"
make venv > "$d/venv.log" 2>&1
t0=$(date +%s.%N)
if [ "$PART" != demo ]; then
  make test > "$d/test.log" 2>&1 || { tail -50 "$d/test.log"; exit 1; }
fi
t1=$(date +%s.%N)
if [ "$PART" != test ]; then
  make demo DEMO="$d/demo-out" > "$d/demo.log" 2>&1 || { tail -50 "$d/demo.log"; exit 1; }
fi
t2=$(date +%s.%N)
commit=$(git rev-parse HEAD)
.venv/bin/python - "$ROOT/benchmarks/results/setup_times.json" "$d" "$commit" "$PART" "$t0" "$t1" "$t2" <<'PY'
import json, re, sys
from pathlib import Path

sys.path.insert(0, ".")
from edgeprune.device.sysinfo import device_info
from edgeprune.jsonio import write_json

out, d, commit, part = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
t0, t1, t2 = map(float, sys.argv[5:])
doc = json.loads(out.read_text()) if out.is_file() and part != "both" else {}
# each part names the machine it was measured on (PART=test on one machine keeps the demo's figures from another)
if part == "both":
    doc["device"] = device_info()
else:
    old = doc.pop("device", None)  # a file from before this split: its device measured both parts
    if old is not None:
        doc.setdefault(f"{'demo' if part == 'test' else 'test'}_device", old)
    doc[f"{part}_device"] = device_info()
if part != "demo":
    # make test runs pytest twice (the others on both cores, then the Ray tests alone): both summaries, and the sum
    summaries = [l.strip("= ") for l in (d / "test.log").read_text().splitlines() if re.search(r"\d+ passed", l)]
    passed = sum(int(re.search(r"(\d+) passed", l).group(1)) for l in summaries)
    doc.update(make_test_seconds=round(t1 - t0, 1), make_test_summary="; ".join(summaries), make_test_passed=passed,
               make_test_commit=commit)
if part != "test":
    runs = d / "demo-out" / "runs"
    dense = json.loads((runs / "baseline" / "run.json").read_text())
    w80 = json.loads((runs / "weight80" / "run.json").read_text())
    f50 = json.loads((runs / "filter50" / "run.json").read_text())
    paired = (w80.get("vs_control") or {}).get("test_paired") or {}
    demo_log = (d / "demo.log").read_text().splitlines()
    at = [i for i, l in enumerate(demo_log) if l.startswith("The model to ship")]
    pick = [l for l in demo_log[at[-1] + 1:] if ": accuracy " in l][:1] if at else []
    doc.update(make_demo_seconds=round(t2 - t1, 1), make_demo_commit=commit,
               demo_dense_test_accuracy=dense["test_accuracy"], demo_test_images=paired.get("n"),
               demo_weight80_vs_control_points=100 * paired["diff"] if paired else None,
               demo_weight80_vs_control_se_points=100 * paired["se"] if paired else None,
               demo_weight80_test_accuracy=w80["test_accuracy"],
               demo_control_test_accuracy=w80["control"]["test_accuracy"],
               demo_filter50_test_accuracy=f50["test_accuracy"], demo_filter50_macs_ratio=f50["macs"] / f50["macs_before"],
               demo_pick=pick[-1] if pick else None)
write_json(out, doc)
print(out.read_text())
PY
