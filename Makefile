# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SOURCES := bot commands sandbox tests bench

.PHONY: demo test lint typecheck services venv clean

$(BIN)/litemaas-bot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/litemaas-bot

services:
	.ci/services

demo: venv services
	$(BIN)/litemaas-bot demo

lint: venv
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

test: venv services lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
