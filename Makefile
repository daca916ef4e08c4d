# Two commands do all set-up on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install install-run run test lint format bench clean clean-data

# The service's data (database, stored files, signing keys): only `clean-data` deletes it.
DATA_DIR ?= $(or $(AKOWE_DATA_DIR),data)

# `make run` installs what running needs; `make test`, `lint` and `bench` add the
# development tools (the test suite's servers, browsers' drivers, linters) on top.
RUN_STAMP := $(VENV)/.installed-run-$(shell cksum pyproject.toml | cut -d' ' -f1)

install: $(STAMP)

install-run: $(RUN_STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "akowe needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@ $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "akowe needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-run-*
	touch $@

## Start the service on 127.0.0.1:8000 over SQLite in ./data, with a demo account.
run: install-run
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
	$(BIN)/python bench/api.py
	$(BIN)/python bench/verify.py

## Remove the virtualenv and tool caches; the data in $(DATA_DIR) is kept.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Delete $(DATA_DIR): the database, every certificate, stored file and signing key. Asks first.
clean-data:
	@if [ ! -e "$(DATA_DIR)" ]; then echo "$(DATA_DIR) does not exist: nothing to delete."; exit 0; fi
	@printf 'This deletes %s: the database, every certificate, stored file and signing key.\n' "$(DATA_DIR)"
	@printf 'Type "delete" to confirm: '; \
	read answer || true; \
	if [ "$$answer" = delete ]; then rm -rf -- "$(DATA_DIR)" && echo "Deleted $(DATA_DIR)."; \
	else echo "Kept $(DATA_DIR)."; exit 1; fi
