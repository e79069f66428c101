# Two set-up commands: `make demo` (install, build demo data, run) and `make test` (install, run every test).
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# The UI's English catalog, compiled from its .po on every machine (not committed: each Babel writes other bytes).
MO      = web/translations/en/LC_MESSAGES/messages.mo
# The suite runs on every core (pytest-xdist; each worker gets its own PostgreSQL database).
PYTEST_ARGS ?= -n auto

.PHONY: demo test install clean assets translations

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(MO): $(MO:.mo=.po) $(STAMP)
	$(BIN)/pybabel compile -d web/translations

install: $(STAMP) $(MO)

demo: $(STAMP) $(MO)
	$(BIN)/rectiflow demo  # builds the demo bureau (three schools), then serves the UI and prints its URL (Ctrl+C stops)

test: $(STAMP) $(MO)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) rectiflow.sqlite3* $(MO)

# Browser assets (Bootstrap, Bootstrap Icons, bpmn-js navigated viewer, bpmn-js-differ, htmx, ECharts) are vendored into web/static/vendor and
# committed; this re-creates them from package-lock.json with npm.
assets:
	npm ci --no-audit --no-fund
	bash scripts/vendor_assets.sh

# After changing user-facing text: re-extract the catalog, merge it into the English one, compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F web/babel.cfg -k _l --no-location --sort-output -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations
	$(BIN)/pybabel compile -d web/translations
