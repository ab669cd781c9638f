# Two commands: `make run` serves Switchboard, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test chromium lint format bench deps screenshots

# `make run` says only what the owner needs: what it is doing while it installs, the database's
# state in one line (VERBOSE=1 shows each migration), the admin's password once, the address.
$(BIN)/python:
	@echo "Creating .venv and installing Switchboard's requirements (the first time only)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	@$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	@$(FLASK) db upgrade
	@$(FLASK) ensure-admin
	@exec $(FLASK) serve

test: $(VENV)/.dev-deps chromium
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium, never a browser a test tool downloads. As root with
# apt-get (CI, a fresh container) it is installed here; elsewhere those tests are skipped, and the
# run ends with a line saying how to include them. CHROMIUM_PATH names another Chromium.
chromium:
	@if [ -z "$$CHROMIUM_PATH" ] && ! command -v chromium >/dev/null && [ ! -e /usr/bin/chromium ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium package for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    >/dev/null || echo "Could not install chromium: the browser tests will be skipped."; \
	fi

# The README's and docs' pictures are taken by the page tests (tests/test_pages_fit.py), at
# laptop and phone width, from the shop in tests/support/showcase.py: rerun after changing a page.
screenshots: $(VENV)/.dev-deps chromium
	REQUIRE_BROWSER=1 SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/test_pages_fit.py

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-deps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# `make bench DATABASE_URL=postgresql+psycopg://…` (a PostgreSQL server's admin URL) runs every
# bench on PostgreSQL, each server on a database of its own, and adds the throughput bench,
# which sets SQLite and PostgreSQL side by side.
bench: $(VENV)/.dev-deps
	$(BIN)/python bench/delivery_bench.py
	$(BIN)/python bench/flow_bench.py
	$(BIN)/python bench/logs_bench.py
	$(BIN)/python bench/trials_bench.py
	$(BIN)/python bench/media_bench.py
	$(BIN)/python bench/health_bench.py
	$(BIN)/python bench/knowledge_bench.py
	$(if $(filter postgresql%,$(DATABASE_URL)),$(BIN)/python bench/scale_bench.py)

# Pin every dependency, direct or not, with the hashes of its files: `make run` and `make test`
# install with --require-hashes, so a package whose bytes changed under the same version fails
# the install instead of running. Edit requirements*.in, then run this.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
deps: | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(COMPILE) --output-file requirements.txt requirements.in
	$(COMPILE) --output-file requirements-dev.txt requirements-dev.in
