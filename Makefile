# SupportNet: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app supportnet
HOST ?= 127.0.0.1
PORT ?= 5000
export SUPPORTNET_ENV ?= development

.PHONY: run test lint deps dev-deps browser-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "SupportNet needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	@touch $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

# Sets up (or upgrades) the SQLite database under instance/, loads demo data, and serves the web app
# and the scheduler together; Ctrl-C stops both.
run: deps
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Serving http://$(HOST):$(PORT) (web) with the scheduler. Ctrl-C stops both."
	@$(FLASK) scheduler run & sched=$$!; \
	trap 'kill -TERM $$sched 2>/dev/null; wait $$sched 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: dev-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: dev-deps
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
