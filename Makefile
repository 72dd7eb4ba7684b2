# The two commands of the README: `make run` and `make test` (and `make lint`, which CI runs too).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format install browser js-test-tools stop-embedded

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The product fails closed (DEBUG off unless set); on a developer's machine it runs with DEBUG on and demo data.
run: $(STAMP)
	DEBUG=true $(PY) manage.py serve

test: $(STAMP) browser js-test-tools
	$(PY) -m pytest $(PYTEST_ARGS)

# The accessibility test injects axe-core from npm (package.json pins it, package-lock.json its checksum):
# `npm ci` installs exactly that when node_modules is missing or older than the lock file.
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json
	@$(call apt_install,npm,npm,the accessibility test needs npm (Node.js))
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

js-test-tools: $(NPM_STAMP)

# Installs a Debian package when its command is missing and this user can (root, or sudo without a password);
# otherwise one line says how, and `make test` stops: the tests that need it fail, they never skip.
# $(1) the command, $(2) the package, $(3) why the tests need it.
define apt_install
command -v $(1) >/dev/null 2>&1 && exit 0; \
if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then SUDO=""; \
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; \
else echo "make test: $(3); install it with 'sudo apt-get install -y $(2)', then run 'make test' again." >&2; exit 1; fi; \
echo "Installing Debian's $(2): $(3) (apt-get)…"; \
$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null && \
command -v $(1) >/dev/null 2>&1 || { echo "make test: installing $(2) with apt-get failed (see above); install it with 'sudo apt-get install -y $(2)', then run 'make test' again." >&2; exit 1; }
endef

# The browser tests drive Debian's chromium (never a downloaded one).
browser:
	@$(call apt_install,chromium,chromium,the browser tests need Debian's chromium)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

stop-embedded: $(STAMP)
	$(PY) -m contact_center.embedded stop
