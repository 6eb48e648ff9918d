# Studio: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench loadtest prod-venv litellm-venv lint venv install install-dev clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit("Studio needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall only when the pins change.
$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py sync_catalog
	DEBUG=$${DEBUG:-true} $(PY) manage.py setup_demo
	DEBUG=$${DEBUG:-true} $(PY) manage.py runstudio --host $(HOST) --port $(PORT)

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev
	STUDIO_BENCH=1 $(PY) -m pytest tests/bench -s -q $(PYTEST_ARGS)

# A virtualenv from requirements.txt alone, as the Docker image installs: the load suite runs
# the servers from it, so a runtime dependency that only the dev requirements bring fails there.
PROD_VENV := var/prod-venv
$(PROD_VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("Studio needs Python 3.11+") if sys.version_info < (3, 11) else None'
	rm -rf $(PROD_VENV)
	$(PYTHON) -m venv $(PROD_VENV)
	$(PROD_VENV)/bin/pip install --quiet --upgrade pip
	$(PROD_VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

prod-venv: $(PROD_VENV)/.installed

# The LiteLLM proxy, for tests/bench/test_gateway_bench.py to compare against: a virtualenv of
# its own, since its pins (FastAPI, pydantic, openai, ...) are not the project's. litellm goes in
# without its dependencies, which tests/bench/litellm_venv.py then installs from its METADATA.
LITELLM_VENV := var/litellm-venv
LITELLM_VERSION := 1.109.1
$(LITELLM_VENV)/.installed: tests/bench/litellm_venv.py
	@$(PYTHON) -c 'import sys; sys.exit("LiteLLM needs Python 3.10+") if sys.version_info < (3, 10) else None'
	rm -rf $(LITELLM_VENV)
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet --no-deps litellm==$(LITELLM_VERSION) packaging
	$(LITELLM_VENV)/bin/python tests/bench/litellm_venv.py
	@touch $@

litellm-venv: $(LITELLM_VENV)/.installed

# The load and chaos suite (tests/load): needs DATABASE_URL (PostgreSQL) and redis-server.
loadtest: install-dev prod-venv
	STUDIO_LOAD=1 $(PY) -m pytest tests/load -s -q $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV)
