# RepairDesk: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CATALOGS := $(wildcard repair/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-sqlite test-services bench faults lint format translations \
	translations-update browser clean classifier helpdesk-venv

# The install's own chatter goes to a log; a failure prints its tail.
INSTALL_LOG := $(VENV)/install.log

$(BIN)/repairdesk: pyproject.toml
	@echo "Installing RepairDesk into $(VENV) (a few minutes the first time; log: $(INSTALL_LOG))"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[test]'; } \
		> $(INSTALL_LOG) 2>&1 || { tail -n 30 $(INSTALL_LOG); exit 1; }
	@touch $@

%.mo: %.po | $(BIN)/repairdesk
	@$(BIN)/pybabel compile -i $< -o $@ >/dev/null 2>&1 \
		|| $(BIN)/pybabel compile -i $< -o $@

translations: $(COMPILED)

## run: install, migrate, seed the demo and serve web + worker + scheduler
run: $(BIN)/repairdesk translations
	@$(BIN)/repairdesk db upgrade
	@$(BIN)/repairdesk seed-demo
	@$(BIN)/repairdesk run

## test: the whole suite on SQLite + embedded Redis, then on the services if set
test: $(BIN)/repairdesk translations browser
	env -u REPAIRDESK_TEST_DATABASE_URL -u REPAIRDESK_TEST_REDIS_URL \
		$(BIN)/pytest
	@if [ -n "$$REPAIRDESK_TEST_DATABASE_URL$$REPAIRDESK_TEST_REDIS_URL" ]; then \
		echo "== again on $${REPAIRDESK_TEST_DATABASE_URL%%:*} + Redis server"; \
		$(BIN)/pytest; \
	fi

# The browser tests drive Debian's Chromium; never a browser downloaded by a tool.
browser:
	@test -x $(CHROMIUM) || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@test -n "$$(fc-list :lang=zh 2>/dev/null)" || { \
		echo "Installing a CJK font so screenshots show the Chinese text"; \
		apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null; }

## bench: the benchmarks under tests/benchmarks (figures and ratios to targets)
bench: $(BIN)/repairdesk translations
	@for script in tests/benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

## helpdesk-venv: django-helpdesk from PyPI in its own venv, for bench_submission.py
## (then: REPAIRDESK_BENCH_HELPDESK_VENV=$PWD/.helpdesk-venv make bench); psycopg
## runs it on PostgreSQL too when REPAIRDESK_BENCH_DATABASE_URL is set
HELPDESK_VENV ?= .helpdesk-venv
helpdesk-venv: $(HELPDESK_VENV)/.installed
$(HELPDESK_VENV)/.installed:
	$(PYTHON) -m venv $(HELPDESK_VENV)
	$(HELPDESK_VENV)/bin/pip install django-helpdesk gunicorn 'psycopg[binary]'
	touch $@

## faults: fault runs (Redis killed and restarted empty, a worker killed -9)
faults: $(BIN)/repairdesk translations
	@for script in tests/faults/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

## classifier: retrain the learned urgency model from the corpus, then evaluate it
classifier: $(BIN)/repairdesk
	$(BIN)/repairdesk classifier train
	$(BIN)/repairdesk classifier evaluate

lint: $(BIN)/repairdesk
	$(BIN)/ruff check repair dispatch printables tests
	$(BIN)/ruff format --check repair dispatch printables tests

format: $(BIN)/repairdesk
	$(BIN)/ruff format repair dispatch printables tests
	$(BIN)/ruff check --fix repair dispatch printables tests

## translations-update: extract messages and merge them into the catalogues
translations-update: $(BIN)/repairdesk
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location \
		--project RepairDesk -o repair/translations/messages.pot .
	$(BIN)/pybabel update -i repair/translations/messages.pot -d repair/translations \
		--width 88 --no-fuzzy-matching

clean:
	rm -rf $(VENV) $(HELPDESK_VENV) instance tests/artifacts .pytest_cache
