# Two commands on a fresh machine that has only Python:
#   make run    - the complete bundled mailing with embedded defaults (private Redis, outbox folder)
#   make test   - lint, type checks and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test check chaos bench install clean

$(BIN)/distributie: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/distributie

run: install
	$(BIN)/distributie send --yes
	$(BIN)/distributie status

check: install
	$(BIN)/distributie check

test: install
	$(BIN)/ruff check distributie tests bench
	$(BIN)/ruff format --check distributie tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

chaos: install
	$(BIN)/pytest -q -m chaos

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .distributie outbox
