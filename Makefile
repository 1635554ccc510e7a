# The two entry points the README promises: `make test` and `make bench`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
NODE := $(shell command -v node 2>/dev/null)
JS_STAMP := bench/js/node_modules/.installed

.PHONY: test lint typecheck unit bench bench-quick fuzz fuzz-store clean js

$(VPY):
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(VPY) -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Node peers (Automerge, Yjs, Loro) for the benchmark and the differential test.
js: $(JS_STAMP)
$(JS_STAMP): bench/js/package.json bench/js/package-lock.json
ifneq ($(NODE),)
	cd bench/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)
else
	@echo "node not found: the Automerge/Yjs/Loro peers are skipped"
endif

lint: $(STAMP)
	$(VPY) -m ruff check crdt echo tests bench
	$(VPY) -m ruff format --check crdt echo tests bench

typecheck: $(STAMP)
	$(VPY) -m mypy --strict crdt echo bench

unit: $(STAMP) js
	$(VPY) -m pytest

test: lint typecheck unit

# Each command exits non-zero if a row is not correct; the others still run, and the
# target fails at the end with the first such status.
bench: $(BENCH_STAMP) js
	@s=0; \
	$(VPY) -m bench || s=$$?; \
	$(VPY) -m bench.storage_bench || { r=$$?; [ $$s -ne 0 ] || s=$$r; }; \
	$(VPY) -m bench.memory || { r=$$?; [ $$s -ne 0 ] || s=$$r; }; \
	exit $$s

# The CI smoke run (.ci/run): every engine on the small sequential traces, one repeat,
# the storage benchmark on a prefix of the paper, the memory run on a small trace.
bench-quick: $(BENCH_STAMP) js
	@s=0; \
	$(VPY) -m bench --quick || s=$$?; \
	$(VPY) -m bench.storage_bench --quick || { r=$$?; [ $$s -ne 0 ] || s=$$r; }; \
	$(VPY) -m bench.memory --trace sveltecomponent --json bench/results/quick/memory.json \
		|| { r=$$?; [ $$s -ne 0 ] || s=$$r; }; \
	exit $$s

fuzz: $(STAMP)
	FUZZ_FOREVER=1 $(VPY) -m pytest -m slow -q

fuzz-store: $(STAMP)
	STORE_FUZZ_FOREVER=1 $(VPY) -m pytest -m slow -q -s tests/storage/test_store_fuzz.py

clean:
	rm -rf $(VENV) bench/js/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
