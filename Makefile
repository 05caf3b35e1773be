# The README's two commands are `make demo` and `make test`; the Dockerfile and .ci/run use
# the same `install` target, so the three cannot drift apart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
# Editable for development; the Dockerfile sets PIP_EDITABLE= for a regular install.
PIP_EDITABLE ?= -e

.PHONY: install demo test lint
install: $(VENV)/.installed-$(EXTRAS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_EDITABLE) '.[$(EXTRAS)]'
	touch $@

demo: install
	$(BIN)/nachtroute demo

test: install
	$(BIN)/pytest -n 2 --dist loadfile -q
	$(MAKE) lint

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy optimizer geo api mobile_contract
