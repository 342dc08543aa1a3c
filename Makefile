# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DATA := data
export DAGSTER_HOME := $(abspath $(DATA)/dagster_home)

# Demo data for `make run`: small enough for a laptop, big enough for every metric.
DEMO_CUSTOMERS ?= 2000
DEMO_DAYS ?= 60
DEMO_START ?= 2026-01-01
DEMO_MESSINESS ?= 0.01
# `make run` and `make dev` work on that demo data: demo mode accepts the default PII hash key
# (any other run refuses it). `make dev DEMO_MODE=false` for the UI on real data.
DEMO_MODE ?= true

.PHONY: install run test test-slow test-all test-engines dev docs dashboard chromium bench lock clean

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

$(DAGSTER_HOME):
	mkdir -p $(DAGSTER_HOME)

run: install $(DAGSTER_HOME)  ## generate demo data and run the whole pipeline end to end
	$(BIN)/cew generate --out $(DATA)/landing --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) \
		--start $(DEMO_START) --messiness $(DEMO_MESSINESS)
	CEW_DEMO_MODE=$(DEMO_MODE) $(BIN)/cew run --landing $(DATA)/landing --warehouse $(DATA)/warehouse.duckdb

# Two workers, one test module each: the suite is mostly single-threaded Python (dbt, Dagster)
# waiting on subprocesses, so two modules at a time nearly halve the wall time on 2 cores.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

test: install chromium  ## the default test suite (what CI runs)
	$(BIN)/pytest -q $(PYTEST_PARALLEL)

test-slow: install  ## the slow suites only (marker slow: demo-data ML, crash recovery, late-file idempotency); CI runs them after `make test`
	CEW_TEST_SLOW=1 $(BIN)/pytest -q $(PYTEST_PARALLEL) -m slow

test-all: install chromium  ## every suite, slow ones included
	CEW_TEST_SLOW=1 $(BIN)/pytest -q $(PYTEST_PARALLEL) -m ""

test-engines: install  ## `cew run` on PostgreSQL and Spark against the DuckDB build (tests/test_engines.py)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	$(BIN)/pytest -q -s -m engines tests/test_engines.py

dev: install $(DAGSTER_HOME)  ## Dagster UI on http://127.0.0.1:3000
	CEW_DEMO_MODE=$(DEMO_MODE) $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

docs: install  ## dbt docs on http://127.0.0.1:8080
	cd dbt_project && ../$(BIN)/dbt docs generate --profiles-dir .. && ../$(BIN)/dbt docs serve --profiles-dir .. --port 8080

DASHBOARD_PORT ?= 8501
dashboard: install  ## the dashboard on http://127.0.0.1:8501, reading the published marts of the last run
	$(BIN)/streamlit run orchestration/dashboard/app.py --server.address 127.0.0.1 --server.port $(DASHBOARD_PORT) \
		--server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer

# The dashboard's browser test drives Debian's Chromium (apt, as root: CI's clean machine is).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; }

bench: install  ## benchmark at the default scale; results appended to benchmarks/results.md
	$(BIN)/cew bench

lock:  ## re-pin constraints.txt from the current .venv
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(DATA) dbt_project/target dbt_project/logs
