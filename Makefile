# Two commands matter: `make demo` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench system-deps-test system-deps-demo clean arm64-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

system-deps-test:
	bash scripts/install-system-deps.sh test

system-deps-demo:
	bash scripts/install-system-deps.sh demo

demo: system-deps-demo $(STAMP)
	$(BIN)/jemput demo

test: system-deps-test $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

arm64-check: system-deps-test $(STAMP)
	bash scripts/arm64-check.sh

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info tests/artifacts demo-data
