# SecGov — `make run` starts the demo city; `make test` runs the whole suite.
# Both set up everything first: Debian packages when missing, the virtual environment,
# the Python packages from the requirements files and the compiled translations.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
BENCH_ARGS ?=
MO     := secgov/translations/zh/LC_MESSAGES/messages.mo

.PHONY: run test screenshots bench bench-reports setup system-deps lint format translations extract-messages clean

setup: system-deps $(VENV)/.deps $(MO)

system-deps:
	@./scripts/system-deps

$(VENV)/.deps: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@touch $@

$(MO): secgov/translations/zh/LC_MESSAGES/messages.po $(VENV)/.deps
	$(BIN)/pybabel compile -d secgov/translations -D messages
	@touch $@

translations: $(MO)

extract-messages: $(VENV)/.deps
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output -o secgov/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i secgov/translations/messages.pot -d secgov/translations -D messages

run: setup
	$(BIN)/python -m secgov db upgrade
	@$(BIN)/python -m secgov demo
	@echo ""
	@echo "SecGov is starting on http://$(HOST):$(PORT)/"
	@echo "Sign in with one of the demo logins above. The admin account must set up"
	@echo "two-factor authentication (any TOTP authenticator app) at its first sign-in."
	@echo "The scheduler and a background worker run beside the server (see Background work in the README)."
	@echo "Stop them all with Ctrl-C."
	@echo ""
	SECGOV_COOKIE_SECURE=0 $(BIN)/python -m secgov serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint
	@./scripts/test-suites "$(PG_TEST_URL)"

# Every page in Debian's Chromium, zh and en, 1366 and 390 px wide, written to screenshots/.
screenshots: setup
	SECGOV_SCREENSHOTS=1 $(BIN)/python -m pytest tests/test_pages_browser.py

# 20,000 synthetic assets: import, latency and throughput of the production server on
# 127.0.0.1 beside its limit (plain Flask replaying the same answers), SQL statements per
# request (bench/results/latest.json); then the city's compliance report at 20,000 assets
# beside bare WeasyPrint rendering the same HTML (bench/results/reports.json); then a scan job
# beside bare nmap on loopback HTTP servers, and the ingestion of a 1,000-host nmap XML file
# (bench/results/scans.json); then the drills' coverage, lists and dashboard tiles at 5,000 drills
# and 20,000 corrective actions (bench/results/drills.json); then the accountability matrix (a
# page, a filtered page, the CSV export) and a quarter's appraisal at 3,000 systems, with their
# SQL statements, beside the bare read of the matrix's rows (bench/results/accountability.json).
bench: setup
	$(BIN)/python bench/bench_assets.py $(BENCH_ARGS)
	$(BIN)/python bench/bench_reports.py $(BENCH_REPORTS_ARGS)
	$(BIN)/python bench/bench_scans.py $(BENCH_SCANS_ARGS)
	$(BIN)/python bench/bench_drills.py $(BENCH_DRILLS_ARGS)
	$(BIN)/python bench/bench_accountability.py $(BENCH_ACCOUNTABILITY_ARGS)

bench-reports: setup
	$(BIN)/python bench/bench_reports.py $(BENCH_REPORTS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .pytest_cache-postgresql .ruff_cache $(MO)
