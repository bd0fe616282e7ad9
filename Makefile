# SupportNet: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app supportnet
HOST ?= 127.0.0.1
PORT ?= 5000
export SUPPORTNET_ENV ?= development

.PHONY: run test lint deps dev-deps js-deps browser-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "SupportNet needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt requirements-dev-nodeps.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-dev-nodeps.txt
	@touch $@

# Mozilla's ical.js for the calendar feed parity tests (tests/js), reinstalled when its lock file changes.
# Without npm the ical.js tests are skipped (CI sets SUPPORTNET_REQUIRE_NODE=1, which makes that a failure).
JS := tests/js
$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "npm ci (in $(JS))" && cd $(JS) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the ical.js parity tests will be skipped"; fi

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps
js-deps: $(JS)/node_modules/.installed

# Sets up (or upgrades) the SQLite database under instance/, loads demo data, and serves the web app
# and the scheduler together; Ctrl-C stops both. Links in emails and feeds use the port it serves on, and the
# demo's staff accounts sign in without two-factor (both can be overridden from the environment).
run: export SUPPORTNET_BASE_URL ?= http://$(HOST):$(PORT)
run: export SUPPORTNET_REQUIRE_2FA_FOR_STAFF ?= 0
run: deps
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Serving http://$(HOST):$(PORT) (web) with the scheduler. Ctrl-C stops both."
	@$(FLASK) scheduler run & sched=$$!; \
	trap 'kill -TERM $$sched 2>/dev/null; wait $$sched 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then the tests that touch the database again on PostgreSQL (the server in
# SUPPORTNET_TEST_POSTGRES_URL, else a throwaway one the tests start from Debian's postgresql package; skipped
# with the reason when there is neither, a failure with SUPPORTNET_REQUIRE_POSTGRES=1). Both passes always run.
# `make test TEST_DATABASES=sqlite` runs only the first.
TEST_DATABASES ?= sqlite postgres
test: dev-deps js-deps
	@status=0; for database in $(TEST_DATABASES); do \
	  echo "=== tests on $$database ==="; \
	  $(BIN)/python -m pytest --db $$database $(PYTEST_ARGS) || status=1; \
	done; exit $$status

lint: dev-deps
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(JS)/node_modules
