# Everything a developer or CI runs. `make plan` and `make test` set up the environment first.
STACK ?= dev
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup plan plans test lint typecheck unit dockerfiles format clean

setup: $(VENV)/.synced

# uv itself comes from PyPI into a private venv, so a machine needs nothing but Python 3.11+ and make.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --python $(PYTHON)
	touch $@

plan: setup ## Offline plan of one stack: make plan STACK=prod
	$(BIN)/python -m offline.plan $(STACK)

plans: setup ## Offline plan of every stack
	for stack in dev staging prod; do $(BIN)/python -m offline.plan $$stack > /dev/null || exit 1; done

test: setup lint typecheck dockerfiles unit ## Every check and test, as CI runs them

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

# Every Dockerfile in the repo (tracked or new), linted by hadolint; a warning or a style issue fails the build.
dockerfiles: setup
	git ls-files --cached --others --exclude-standard -z '*Dockerfile*' | xargs -0 -r $(BIN)/hadolint --failure-threshold style

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) build .pytest_cache .mypy_cache .ruff_cache
