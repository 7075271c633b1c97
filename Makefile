# The two commands of the README: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The database is SPIEGEL_DATABASE if set, else .data/spiegel.db here: server/config.py's
# default, so that `.venv/bin/spiegel` started from anywhere finds the same file.

# Lighthouse for the staff app's speed test (tests/browser/test_lighthouse.py), from npm into
# the git-ignored venv; 12.8.2 is the newest release whose engines admit Node 20 (13.x: >=22.19).
LIGHTHOUSE_VERSION := 12.8.2
LIGHTHOUSE_DIR := $(VENV)/lighthouse

.PHONY: run test lint chromium lighthouse bench

run: $(VENV)/.runtime
	$(BIN)/spiegel demo
	$(BIN)/spiegel serve

test: $(VENV)/.test chromium lighthouse
	$(BIN)/ruff check server tests
	$(BIN)/mypy server
	$(BIN)/pytest -q

lint: $(VENV)/.test
	$(BIN)/ruff check server tests
	$(BIN)/mypy server

bench: $(VENV)/.test
	$(BIN)/python tests/bench/bench_ingest.py

$(VENV)/.runtime: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Spiegel needs Python 3.11 or newer"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# Browser tests drive Debian's chromium through executable_path: Playwright's own browser
# download cannot work on these machines.
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/lib/chromium/chromium || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "chromium is missing and this user cannot install it: run 'apt-get install chromium' as root."; exit 1; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null || { \
	    echo "Could not install chromium with apt-get; install Debian's 'chromium' package and retry."; exit 1; }; }

lighthouse: $(LIGHTHOUSE_DIR)/.v$(LIGHTHOUSE_VERSION)

$(LIGHTHOUSE_DIR)/.v$(LIGHTHOUSE_VERSION):
	@command -v npm >/dev/null 2>&1 || { \
	  echo "Installing Debian's nodejs and npm for the Lighthouse test..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "npm is missing and this user cannot install it: run 'apt-get install nodejs npm' as root."; exit 1; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null || { \
	    echo "Could not install npm with apt-get; install Node.js 20 or newer with npm and retry."; exit 1; }; }
	rm -f $(LIGHTHOUSE_DIR)/.v*
	npm install --prefix $(LIGHTHOUSE_DIR) --no-audit --no-fund --save-exact lighthouse@$(LIGHTHOUSE_VERSION)
	touch $@
