# The README's two commands are `make demo` and `make test`; the Dockerfile and .ci/run use
# the same `install` target, so the three cannot drift apart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
# Editable for development; the Dockerfile sets PIP_EDITABLE= for a regular install.
PIP_EDITABLE ?= -e

.PHONY: install demo test lint
install: $(VENV)/.installed-$(EXTRAS) web/node_modules/.installed

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_EDITABLE) '.[$(EXTRAS)]'
	touch $@

# The planner's board's browser libraries (Leaflet; axe-core for its tests) from the npm
# registry, at set-up only. Without npm the service still runs; the board says what is missing.
web/node_modules/.installed: web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd web && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "make install: npm not found: the planner's board will show no map (install Node 20 and npm)"; fi

demo: install
	$(BIN)/nachtroute demo

test: install
	$(BIN)/pytest -n 2 --dist loadfile -q
	$(MAKE) lint

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy optimizer geo api mobile_contract
