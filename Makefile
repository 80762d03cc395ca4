# The README's two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PLUGIN := astrbot_plugin_http_endpoint
PLUGIN_FILES := main.py metadata.yaml requirements.txt LICENSE README.md asgi_app plugin

.PHONY: run test unit e2e check lint requirements install dist bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(tools/find_python.sh)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $$($(PY) tools/pyproject_deps.py runtime) $$($(PY) tools/pyproject_deps.py dev)
	@touch $(STAMP)

run: install
	$(PY) -m tests.harness.run_local

test: check
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine -q
	$(BIN)/coverage report --fail-under=85

unit: install
	$(PY) -m pytest tests/unit

e2e: install
	$(PY) -m pytest tests/e2e

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	rm -rf build/typecheck && mkdir -p build/typecheck/$(PLUGIN)
	cp -r main.py asgi_app plugin build/typecheck/$(PLUGIN)/
	cd build/typecheck && $(abspath $(BIN))/mypy --config-file ../../pyproject.toml -p $(PLUGIN)
	$(BIN)/mypy
	@diff <($(PY) tools/pyproject_deps.py runtime) <(grep -v '^#' requirements.txt) \
	  || (echo "requirements.txt is stale: run 'make requirements'" && exit 1)

lint: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

requirements: install
	@{ echo "# Generated from pyproject.toml by \`make requirements\`; AstrBot installs these."; \
	   $(PY) tools/pyproject_deps.py runtime; } > requirements.txt

dist: install
	rm -rf dist && mkdir -p dist/$(PLUGIN)
	cp -r $(PLUGIN_FILES) dist/$(PLUGIN)/
	find dist -name __pycache__ -prune -exec rm -rf {} +
	cd dist && $(abspath $(PY)) -m zipfile -c $(PLUGIN).zip $(PLUGIN)
	@echo "dist/$(PLUGIN).zip: upload it in AstrBot's dashboard (插件 → 安装插件 → 从文件安装)"

bench: install
	$(PY) -m bench

clean:
	rm -rf build dist .coverage htmlcov .mypy_cache .ruff_cache .pytest_cache
