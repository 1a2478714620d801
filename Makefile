# Podium: two commands for a fresh machine.
#   make demo   set everything up, run the example challenge end to end, print the leaderboard
#   make test   run the whole test suite against real services
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup services images platform-image demo test lint web worker clean bench stack stack-down

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "setup: installing Python dependencies into $(VENV) (log: $(VENV)/pip.log)"
	@$(BIN)/pip install -q --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/pip install -q -e '.[test]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

services:
	bash scripts/ensure-services.sh

images: services
	bash scripts/build-base-image.sh

platform-image: setup images
	bash scripts/build-platform-image.sh

# The compose stack (deploy/compose.yaml; docs/operations.md, "The stack"): builds what is missing, starts
# PostgreSQL, Redis, SeaweedFS, the web site and STACK_WORKERS workers, each with its own Docker engine.
STACK_WORKERS ?= 2
stack: setup images
	bash scripts/stack.sh up $(STACK_WORKERS)

# Stops and removes the stack's containers; its data stays in its volumes (scripts/stack.sh down --volumes: gone).
stack-down:
	bash scripts/stack.sh down

demo: setup images
	$(BIN)/podium demo

test: setup images
	bash scripts/ensure-browser.sh
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check app evaluation runners tests bench scripts challenges
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: setup images
	set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

web: setup
	$(BIN)/podium web

worker: setup
	$(BIN)/podium worker

clean:
	rm -rf var
