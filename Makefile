# The two commands of the README: `make run` and `make test`. Each builds .venv from the
# pinned constraints the first time (and again when pyproject.toml or constraints.txt change).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: serve the seeded plan on SQLite at http://127.0.0.1:8000 (migrates and seeds first)
run: $(STAMP)
	$(PY) -m app serve

## test: run the whole test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## test-fast: the inner loop: the tests not marked slow (`make test` runs them all), on every
## core when on SQLite (a PostgreSQL run shares one database: one process)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(if $(TEST_DATABASE_URL),,-n auto) $(PYTEST_ARGS)

## lint: ruff and mypy
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## lock: re-pin every dependency into constraints.txt
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev,bench]'
	{ head -n 2 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
