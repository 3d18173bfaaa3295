#!/usr/bin/env bash
# The README's two set-up figures, measured: `make test` and `make demo` from a fresh clone of this repository (the
# venv installed first, untimed, so both figures are of the work itself), and the demo's dense test accuracy and the
# paired s.e. of its pruned-minus-control difference. Writes benchmarks/results/setup_times.json. Run it with nothing
# else on the machine: `bash benchmarks/setup_times.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
d=$(mktemp -d)
git clone -q "$ROOT" "$d/repo"
cd "$d/repo"
make venv > "$d/venv.log" 2>&1
t0=$(date +%s.%N)
make test > "$d/test.log" 2>&1 || { tail -50 "$d/test.log"; exit 1; }
t1=$(date +%s.%N)
make demo DEMO="$d/demo-out" > "$d/demo.log" 2>&1 || { tail -50 "$d/demo.log"; exit 1; }
t2=$(date +%s.%N)
commit=$(git rev-parse HEAD)
.venv/bin/python - "$ROOT/benchmarks/results/setup_times.json" "$d" "$commit" "$t0" "$t1" "$t2" <<'PY'
import json, re, sys
from pathlib import Path

sys.path.insert(0, ".")
from edgeprune.device.sysinfo import device_info
from edgeprune.jsonio import write_json

out, d, commit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
t0, t1, t2 = map(float, sys.argv[4:])
summary = [l for l in (d / "test.log").read_text().splitlines() if re.search(r"\d+ passed", l)][-1]
runs = d / "demo-out" / "runs"
dense = json.loads((runs / "baseline" / "run.json").read_text())
w80 = json.loads((runs / "weight80" / "run.json").read_text())
f50 = json.loads((runs / "filter50" / "run.json").read_text())
paired = (w80.get("vs_control") or {}).get("test_paired") or {}
demo_log = (d / "demo.log").read_text().splitlines()
at = [i for i, l in enumerate(demo_log) if l.startswith("The model to ship")]
pick = [l for l in demo_log[at[-1] + 1:] if ": accuracy " in l][:1] if at else []
write_json(out, {
    "make_test_seconds": round(t1 - t0, 1), "make_test_summary": summary.strip("= "),
    "make_demo_seconds": round(t2 - t1, 1),
    "demo_dense_test_accuracy": dense["test_accuracy"], "demo_test_images": paired.get("n"),
    "demo_weight80_vs_control_points": 100 * paired["diff"] if paired else None,
    "demo_weight80_vs_control_se_points": 100 * paired["se"] if paired else None,
    "demo_weight80_test_accuracy": w80["test_accuracy"], "demo_control_test_accuracy": w80["control"]["test_accuracy"],
    "demo_filter50_test_accuracy": f50["test_accuracy"], "demo_filter50_macs_ratio": f50["macs"] / f50["macs_before"],
    "demo_pick": pick[-1] if pick else None,
    "device": device_info(), "commit": commit,
})
print(out.read_text())
PY
