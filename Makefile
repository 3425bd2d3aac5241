# Only python3 and make are assumed; everything else is installed into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
STAMP := $(VENV)/.installed

.PHONY: install lint typecheck test demo emulator bench ui clean chromium

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==0.13.9

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --extra test --compile-bytecode
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy airflow_provider_xplenty

# The browser test drives Debian's chromium (browser downloads are not possible here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing chromium with apt-get (needed by the browser test) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint typecheck chromium
	$(BIN)/pytest -q

demo: install
	$(BIN)/python scripts/demo.py

emulator: install
	$(BIN)/python -m airflow_provider_xplenty.emulator --host 127.0.0.1 --port 8999 --account-id demo --api-key demo-api-key --speed 1

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

ui: install
	$(BIN)/python scripts/airflow_stack.py
