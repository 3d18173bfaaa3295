# The two set-up commands: `make demo` and `make test`. Everything installs through pyproject.toml from here.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo-out

.PHONY: venv test demo bench-data clean pi-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[train,report,dev,ray]"
	touch $(STAMP)

# On both cores (pytest-xdist, a worker that runs out of tests takes some of the other's): the tests that start Ray
# run after the others, one at a time, since `ray stop` ends every Ray process on the machine and a Ray cell waits
# for a free CPU. The tiny model and probe that many tests read are made once for both phases, in a folder removed
# at the end (tests/conftest.py, made_once).
test: venv
	d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	EDGEPRUNE_TEST_SHARED=$$d $(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not ray" tests && \
	EDGEPRUNE_TEST_SHARED=$$d $(BIN)/python -m pytest -q -m ray tests

# The whole pipeline on the built-in demo data, in $(DEMO)/ (each step writes its outputs there). The demo set is
# learnable (the dense model scores above 90 %) and its 1,200 test images resolve a 3-point pruning cost.
demo: venv
	rm -rf $(DEMO)
	$(BIN)/edgeprune train --data demo --image-size 32 --epochs 15 --lr 1e-3 --augment light -w $(DEMO)/runs --out baseline
	$(BIN)/edgeprune prune baseline --method weight --sparsity 0.8 --epochs 4 --lr 1e-3 --control -w $(DEMO)/runs --out weight80
	$(BIN)/edgeprune prune baseline --method filter --ratio 0.5 --epochs 4 --lr 1e-3 -w $(DEMO)/runs --out filter50
	$(BIN)/edgeprune export baseline --formats fp32,int8 -w $(DEMO)/runs --out $(DEMO)/exports/baseline
	$(BIN)/edgeprune export weight80 --formats fp32,int8 -w $(DEMO)/runs --out $(DEMO)/exports/weight80
	$(BIN)/edgeprune export filter50 --formats fp32,int8 -w $(DEMO)/runs --out $(DEMO)/exports/filter50
	$(BIN)/edgeprune bench $(DEMO)/exports/*/*.tflite --rounds 5 --json $(DEMO)/bench.json
	$(BIN)/edgeprune report $(DEMO)/exports $(DEMO)/bench.json --out $(DEMO)/report
	@echo "The model to ship if it must fit in 0.3 MB gzipped (the most accurate file that does):"
	$(BIN)/edgeprune report $(DEMO)/exports $(DEMO)/bench.json --pick --max-gzip-mb 0.3
	@echo "demo succeeded: runs in $(DEMO)/runs/, bundles in $(DEMO)/exports/, timings in $(DEMO)/bench.json, report in $(DEMO)/report/report.md"

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache

# Prove the Raspberry Pi path on emulated aarch64 (qemu-user): runtime-only install, bench, same accuracy as x86.
pi-check: venv
	$(BIN)/python devices/pi_check.py
