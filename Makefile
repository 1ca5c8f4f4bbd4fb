# Every target sets itself up: .venv is created and emberjit installed (with its dev extra)
# only when missing or when setup.cfg/pyproject.toml changed since the last install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest docs bench fuzz golden clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emberjit demo

lint: $(STAMP)
	$(BIN)/ruff check emberjit tests fixtures benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict emberjit

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# The documentation site (mkdocs, material theme, API pages from docstrings) into build/site;
# --strict: any warning (a broken link, a page missing from nav) fails the build. The dev extra
# already holds the docs extra (so `make test`, whose tests build the site, has it too).
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -c "import mkdocs, material, mkdocstrings" 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(STAMP) $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d build/site

# Benchmarks: installs the bench extra (dask, matplotlib) once, then runs every workload (< 5 min);
# writes benchmarks/results/latest.json and docs/perf_fanout_width.png.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# Differential fuzzing: N programs (default: until Ctrl-C); failures saved to fixtures/fuzz_regressions/
N ?= 0
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --n $(N)

# Regenerate the golden plan sources under tests/golden/ after an intended codegen change.
golden: $(STAMP)
	EMBERJIT_REGEN_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
