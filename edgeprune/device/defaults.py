"""The bench's defaults for `edgeprune bench --rounds` and `--min-time`, measured on the shared 2-core development
machine (BENCHMARKS.md, "Timing resolution"; `benchmarks/bench_resolution.py`).

A 32 px model runs in about 0.2 ms, so 100 runs last 20 ms: one burst of other work moves their median, and the first
hundred runs after loading were also slower (0.34 against 0.19 ms at steady state). Timing each file for at least
0.5 s per round, in 11 rounds, brought two copies of one file within 1.6 % of each other, intervals included (10
self-checks of the study's dense fp32 and int8 files); 100 runs in 5 rounds gave intervals as wide as 0.58-1.70.
"""
DEFAULT_ROUNDS = 11
DEFAULT_MIN_TIME_S = 0.5

# `edgeprune latency measure`: every probe file is timed in PASSES passes, each in its own shuffled order and fresh
# processes, and its table entry is the fastest pass's p50. One pass moved by about 10 % between repeats on the Xeon
# (BENCHMARKS.md, the latency section); on the EPYC VM a pass often came out near 2x in slow spells, which the median
# of 3 passes keeps for a file that two passes caught (the graph latency section), and the fastest pass does not.
LATENCY_PASSES = 3
LATENCY_RUNS = 20  # timed runs per file per pass, at least (whole-model variants get 4x)
LATENCY_MIN_TIME_S = 0.1  # and at least this long
LATENCY_WARMUP_S = 0.05  # untimed, after the first 10 runs, past the slow start of a freshly loaded model
