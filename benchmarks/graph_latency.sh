#!/usr/bin/env bash
# Issue 23, latency prediction on graphs: ResNet-20 at 32 px and MobileNetV2 (alpha 1.0, no pretrained weights) at
# 64 px on cifar10-animals. Each is trained one short epoch (a latency table times widths, not weights), probed in
# fp32 and int8 (one segment per convolution, its widths the channel groups'), the probe measured on this machine
# (2 threads), and the table checked on random group widths it did not fit on, then every probe measured a second time
# (benchmarks/graph_latency.py). A summary from another CPU is kept as earlier-*.json. Both runs take PASSES passes
# (5; each file's time its fastest): run again with a larger PASSES to add passes to both.
# Resumable. Probing converts hundreds of files (it may share the machine); measuring wants an idle one.
#   bash benchmarks/graph_latency.sh probe     # train and probe only
#   bash benchmarks/graph_latency.sh           # and measure and summarise: nothing else running
#   MODELS=r20-32 bash benchmarks/graph_latency.sh   # one model's table only (no summary: it wants both)
set -euo pipefail
cd "$(dirname "$0")/.."
W=benchmarks/work/graph-latency
WS=$W/runs
DATA=${DATA:-../shared/data/cifar10-animals}
EP=.venv/bin/edgeprune
mkdir -p "$W"
train() {  # name arch size
  [ -f "$WS/$1/run.json" ] || $EP train --data "$DATA" --arch "$2" --image-size "$3" --limit-per-class 300 \
    --epochs 1 --lr 1e-3 --augment none -w "$WS" --out "$1" --force -q
}
MODELS=${MODELS:-r20-32 mnv2-64}
for m in $MODELS; do
  case $m in r20-32) train r20-32 resnet20 32 ;; mnv2-64) train mnv2-64 mobilenetv2 64 ;;
    *) echo "MODELS: r20-32 and/or mnv2-64, not $m"; exit 2 ;; esac
done
for m in $MODELS; do
  [ -f "$W/$m-probe/manifest.json" ] || $EP latency probe "$m" -w "$WS" --formats fp32,int8 --round-to 8 --points 3 \
    --variants 10 --fit-variants 4 --out "$W/$m-probe" --force -q
done
[ "${1:-}" = probe ] && exit 0
# PASSES per file (each file's time is its fastest pass): a table with fewer gets the missing passes added (resumable)
PASSES=${PASSES:-5}
for m in $MODELS; do
  $EP latency measure "$W/$m-probe" --threads 2 --passes "$PASSES" --json "$W/$m-table.json" -q
done
[ "$MODELS" = "r20-32 mnv2-64" ] || exit 0
# a second measurement of every probe, later, on the same quiet machine: how far two measurements of one held-out
# variant land apart is the noise under the prediction error (it gives nothing new to the tables)
again=()
mkdir -p "$W/again"
for m in $MODELS; do
  $EP latency measure "$W/$m-probe" --threads 2 --passes "$PASSES" --json "$W/again/$m.json" -q
  again+=(--again "$m=$W/again/$m.json")
done
exec .venv/bin/python benchmarks/graph_latency.py --work "$W" "${again[@]}"
