# Two commands do all set-up on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test test-sqlite test-postgres lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "akowe needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

## Start the service on 127.0.0.1:8000 over SQLite in ./data, with a demo account.
run: install
	$(BIN)/akowe serve --demo

## The whole suite (SQLite by default; AKOWE_TEST_DATABASE_URL=postgresql://... for PostgreSQL).
test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/balance.py
	$(BIN)/python bench/issue.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/delivery.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
