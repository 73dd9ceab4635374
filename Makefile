# The two sacred commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/faxbridge serve

test: $(STAMP)
	$(BIN)/ruff check bridge adapters tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check bridge adapters tests bench
	$(BIN)/ruff format --check bridge adapters tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	bash .ci/ensure-postfix
	bash .ci/ensure-postgres
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
