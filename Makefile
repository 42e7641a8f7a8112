# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
export FLASK_APP := app

# PDFs embed a CJK font from the system (Debian fonts-wqy-microhei); installed here when root.
FONT ?= /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

.PHONY: fonts run serve test lint test-sqlite test-postgres install install-scale install-test audit fuzz bench bench-phone bench-records bench-pdf bench-load bench-faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-scale: $(BIN)/python
	$(BIN)/pip install -q -e ".[scale]"

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"

fonts:
	@test -f "$(FONT)" || fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing fonts-wqy-microhei (the CJK font embedded in PDFs)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }; \
	  else echo "WARNING: no CJK font for PDFs: sudo apt-get install fonts-wqy-microhei (or set SBWEB_PDF_FONT_PATH)"; fi; }

## make run: install, migrate, load the demo residents, serve on http://127.0.0.1:$(PORT)
run: install fonts
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask serve --port $(PORT)

## make serve: a scaled pilot: PostgreSQL (DATABASE_URL) + Redis (REDIS_URL) + the job consumer +
## gunicorn (deploy/gunicorn.conf.py, WEB_CONCURRENCY workers) on SBWEB_BIND (127.0.0.1:8000)
serve: install-scale fonts
	BIN=$(BIN) sh deploy/serve.sh

## make test: install the test extras, run every test on SQLite, then every test but the browser
## ones again on PostgreSQL (PG_SELECT: a page in Chromium reaches the database as the flow tests'
## test client does, so the browser tests run once)
PG_SELECT ?= not browser
test: install-test fonts
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

## make lint: ruff's rule set and formatting (pyproject.toml [tool.ruff]); the first step of make test
lint:
	@echo "== ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Three workers on SQLite: its pass keeps only ~1.3 of 2 cores busy with two (tests wait on
# subprocesses, Chromium and lock timeouts).
SQLITE_WORKERS ?= 3
test-sqlite:
	@echo "== tests on SQLite"
	env -u DATABASE_URL $(BIN)/python -m pytest -n $(SQLITE_WORKERS) $(PYTEST_ARGS)

test-postgres:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then \
		echo "== tests on PostgreSQL ($(PG_TEST_URL))"; \
		DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -n 2 -m "$(PG_SELECT)" $(PYTEST_ARGS); \
	elif [ -n "$$SBWEB_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) is required here (SBWEB_REQUIRE_POSTGRES) but not reachable"; exit 1; \
	else \
		echo "== SKIPPED the PostgreSQL run: no server at $(PG_TEST_URL) (CI starts one)"; \
	fi

## make audit: pip-audit over the test environment (exit 1: a vulnerability; 2: no service answered)
audit: install-test
	$(BIN)/python .ci/audit.py

## make fuzz: the long fuzz run over every form (FUZZ_EXAMPLES per route; `make test` runs a few)
FUZZ_EXAMPLES ?= 100
fuzz: install-test
	env -u DATABASE_URL SBWEB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n 2 tests/app/test_fuzz_forms.py $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/fragment_bench.py

## 王芳's journey tap by tap in Chromium on a throttled (300 ms, 1.6 Mbit/s) network
bench-phone: install-test
	$(BIN)/python bench/phone_bench.py $(BENCH_ARGS)

bench-records: install-test
	$(BIN)/python bench/records_bench.py

bench-pdf: install-test fonts
	$(BIN)/python bench/pdf_bench.py

## the whole self-pay journey, 50 scripted users for 60 s, 4 gunicorn workers on PostgreSQL
bench-load: install-test
	$(BIN)/python bench/load_bench.py $(BENCH_ARGS)

## payments through killed workers, PostgreSQL and Redis restarts and misbehaving notifies
bench-faults: install-test
	$(BIN)/python bench/fault_run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
