"""The bench's default number of interleaved rounds (`edgeprune bench --rounds`). Measured on the shared 2-core
development machine (README, `edgeprune bench`): with 5 rounds of 1,000 runs the p50 intervals are within about
0.5 %, while the ratio of two copies of one file came out 0.95-1.04 with intervals up to +-6 %, since the noise
between processes there is bursty. Five rounds keep a bench call short and still show that noise.
"""
DEFAULT_ROUNDS = 5
