# Two commands: `make run` serves Switchboard, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test lint format bench deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(FLASK) db upgrade
	$(FLASK) ensure-admin
	exec $(FLASK) serve

test: $(VENV)/.dev-deps
	$(BIN)/python -m pytest

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
	$(if $(filter postgresql%,$(DATABASE_URL)),$(BIN)/python bench/scale_bench.py)

# Pin every dependency, direct or not, with the hashes of its files: `make run` and `make test`
# install with --require-hashes, so a package whose bytes changed under the same version fails
# the install instead of running. Edit requirements*.in, then run this.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
deps: | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(COMPILE) --output-file requirements.txt requirements.in
	$(COMPILE) --output-file requirements-dev.txt requirements-dev.in
