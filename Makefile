# Every target sets itself up: .venv is created and emberjit installed (with its dev extra)
# only when missing or when setup.cfg/pyproject.toml changed since the last install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench fuzz golden clean

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

# Regenerate the golden plan sources under tests/golden/ after an intended codegen change.
golden: $(STAMP)
	EMBERJIT_REGEN_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
