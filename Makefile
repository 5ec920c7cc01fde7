# product-import: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Every long-running process of the Procfile, in its order (web first: honcho gives the first
# process $PORT). `release` is a one-off: honcho would stop everything when it exits.
PROCESSES := $(shell sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' Procfile | grep -vx release)

.PHONY: install run serve test test-fast lint bench clean screenshots

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

## Start the whole product on http://127.0.0.1:8000 (PORT overrides): uses PostgreSQL and Redis when
## DATABASE_URL/REDIS_URL say so or they answer on their usual ports, else embedded ones (data in var/)
run: install
	@$(PY) -m project.devservices -- $(MAKE) --no-print-directory serve

## What `run` does once PostgreSQL and Redis are reachable (DATABASE_URL/REDIS_URL as configured)
# Local development: debug mode unless the environment (or .env, read by `run`) says otherwise.
serve: export DJANGO_DEBUG ?= true
serve: install
	@mkdir -p var
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	@$(PY) manage.py ensure_admin --url "http://127.0.0.1:$${PORT:-8000}/"
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Starting $(PROCESSES) on http://127.0.0.1:$${PORT:-8000}/ (Ctrl-C stops everything)"
	@# Ctrl-C (or SIGTERM) is how this ends: honcho then exits 130 (or 143), which make would
	@# report as "*** [serve] Error 143". This shell waits for honcho (the trap keeps a SIGTERM from
	@# make from killing it first) and turns a stop on request into success.
	@trap : INT TERM; PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PORT="$${PORT:-8000}" \
		$(VENV)/bin/honcho start --env /dev/null $(PROCESSES); status=$$?; \
		if [ $$status -eq 130 ] || [ $$status -eq 143 ]; then exit 0; fi; exit $$status

## Create .venv, install, and run the whole test suite (what CI runs): every test on the local
## disk, then the tests that store files (marker `storage`) again on object storage (moto)
test: install
	test -x /usr/bin/chromium || bash .ci/install-chromium
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest -m storage --file-storage=s3 $(PYTEST_ARGS)

## The suite without the slow end-to-end tests, for a quick check while working
test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

## Refresh the README's screenshots (docs/screenshots/) from the browser tests
screenshots: install
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_layout.py -k readme_screenshots $(PYTEST_ARGS)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_import_steps.py -k "shop_export or preview_shows" $(PYTEST_ARGS)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_import_undo.py $(PYTEST_ARGS)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_webhooks.py -k "accessible and laptop" $(PYTEST_ARGS)

## Import benchmark (1M rows by default: ROWS=...)
bench: install
	$(PY) -m tests.benchmarks.bench_import --rows $${ROWS:-1000000}

clean:
	rm -rf $(VENV) var .pytest_cache
