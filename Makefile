# Two entry points, both from a fresh clone: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup serve test lint browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# llama-cpp-python is compiled here with CPU flags that avoid AMX (see scripts/build-llama.sh); the wheel is cached.
setup: $(BIN)/python
	PY=$(BIN)/python scripts/build-llama.sh
	$(BIN)/pip install -q -e '.[test]'

serve: setup
	$(BIN)/basalt serve $(ARGS)

lint: setup
	$(BIN)/ruff check basalt tests bench
	$(BIN)/ruff format --check basalt tests bench
	$(BIN)/mypy

# The browser tests (tests/console, the evaluation report's) drive Debian's Chromium: Playwright cannot download its own browser here.
browser:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: lint browser
	$(BIN)/python -m pytest $(ARGS)

clean:
	rm -rf $(VENV) .basalt-test .pytest_cache .mypy_cache .ruff_cache
