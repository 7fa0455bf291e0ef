# Two commands do everything on a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
N ?= 1000000

# A local run is a debug run on the embedded SQLite database unless the
# caller says otherwise.
RUN_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true} SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

.PHONY: help venv run test lint format bench messages clean

help:
	@echo "make run    set up, load demo data and serve the console on http://$(HOST):$(PORT)/"
	@echo "make test   set up and run the test suite (SQLite, or DATABASE_URL when set)"
	@echo "make bench  seed N profiles (default 1,000,000) on PostgreSQL and measure"
	@echo "make lint   ruff check and format check"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[test]'
	@touch $@

run: venv
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo --if-empty
	$(RUN_ENV) $(PY) manage.py demo_operator --url http://$(HOST):$(PORT)
	$(RUN_ENV) $(PY) manage.py landing_links
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv
	N=$(N) $(PY) -m bench

# Rebuild the compiled translations from locale/*/LC_MESSAGES/django.po
# in pure Python (no GNU gettext needed).
messages: venv
	$(PY) locale/compile.py

clean:
	rm -rf $(VENV) var .pytest_cache
