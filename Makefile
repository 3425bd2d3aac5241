# Only python3 and make are assumed; everything else is installed into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
STAMP := $(VENV)/.installed
# Compat run on the lowest supported Airflow (3.2.0), pinned by a committed constraints file.
AF32_VERSION := 3.2.0
AF32_VENV := .venv-af32
AF32_CONSTRAINTS := constraints-airflow-3.2.txt
AF32_STAMP := $(AF32_VENV)/.installed

.PHONY: install lint typecheck test test-compat constraints-af32 demo emulator bench bench-triggerer chaos chaos-quick ui clean chromium

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
	$(BIN)/mypy airflow_provider_xplenty example_dags scripts benchmarks

# The browser test drives Debian's chromium (browser downloads are not possible here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing chromium with apt-get (needed by the browser test) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint typecheck chromium
	$(BIN)/pytest -q
	$(MAKE) test-compat
	$(MAKE) chaos-quick

# Regenerate the Airflow 3.2 pins from constraints-airflow-3.2.in (needs PyPI); commit the .txt.
constraints-af32: $(UV)
	$(UV) pip compile pyproject.toml constraints-airflow-3.2.in --extra test --python-version 3.11 \
	  --custom-compile-command "make constraints-af32" -q -o $(AF32_CONSTRAINTS)

# A fresh venv each time the pins or the project's requirements change (nothing stale survives).
$(AF32_STAMP): $(UV) pyproject.toml $(AF32_CONSTRAINTS)
	rm -rf $(AF32_VENV)
	$(UV) venv -q --python $(BIN)/python $(AF32_VENV)
	$(UV) pip install -q --python $(AF32_VENV)/bin/python --compile-bytecode \
	  -c $(AF32_CONSTRAINTS) "apache-airflow==$(AF32_VERSION)" -e ".[test]"
	$(AF32_VENV)/bin/python -c "import airflow, sys; v = airflow.__version__; \
	  sys.exit(0 if v == '$(AF32_VERSION)' else f'expected Airflow $(AF32_VERSION), got {v}')"
	touch $(AF32_STAMP)

# The unit and DAG tests (not the browser test) on Airflow 3.2.0.
test-compat: $(AF32_STAMP)
	$(AF32_VENV)/bin/pytest -q -m "not e2e"

demo: install
	$(BIN)/python scripts/demo.py

emulator: install
	$(BIN)/python -m airflow_provider_xplenty.emulator --host 127.0.0.1 --port 8999 --account-id demo --api-key demo-api-key --speed 1

bench: install
	$(BIN)/python benchmarks/run.py
	$(MAKE) bench-triggerer

# N = 200 waits in a real `airflow triggerer` on the `make ui` stack, four set-ups (~25 min; docs/scale.md).
bench-triggerer: install
	$(BIN)/python benchmarks/triggerer.py

# Adversarial scenarios (faults, kills, races) on real Airflow and the emulator; see docs/chaos.md.
chaos: install
	$(BIN)/python scripts/chaos.py

chaos-quick: install
	$(BIN)/python scripts/chaos.py --quick

clean:
	rm -rf $(VENV) $(AF32_VENV) .mypy_cache .ruff_cache .pytest_cache

ui: install
	$(BIN)/python scripts/airflow_stack.py
