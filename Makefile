# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv

$(STAMP): pyproject.toml
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "error: $(VENV) is half-made: it has no pip (an earlier 'python -m venv' failed or was interrupted)."; \
	  echo "Run 'make clean', then this command again."; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "error: '$(PYTHON) -m venv' failed. Is $(PYTHON) installed? On Debian/Ubuntu it also needs its venv module:"; \
	  echo "  sudo apt install $(notdir $(PYTHON))-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools warns on every editable install of a flat layout ("be careful with
	@# folders named like your package"): nine lines of noise on a first `make`.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py
	$(BIN)/python examples/experiments.py
	$(BIN)/python examples/tuning.py --trials 4

lint: $(STAMP)
	$(BIN)/ruff check vertex_track flows tests examples benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_store.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
