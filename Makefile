# product-import: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install run test test-fast lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

## Start the whole service (web + worker + reaper) on http://127.0.0.1:$(PORT)
run: install
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	mkdir -p var
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PORT=$(PORT) $(VENV)/bin/honcho start web worker beat

## Create .venv, install, and run the whole test suite (what CI runs)
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## The suite without the slow end-to-end tests, for a quick check while working
test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

## Import benchmark (1M rows by default: ROWS=...)
bench: install
	$(PY) -m tests.benchmarks.bench_import --rows $${ROWS:-1000000}

clean:
	rm -rf $(VENV) var .pytest_cache
