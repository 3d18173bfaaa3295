"""The sections of BENCHMARKS.md, one module each, made only from committed files in benchmarks/results/.

benchmarks/sections.py puts them together and checks the committed document against them."""
