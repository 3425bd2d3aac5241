# Only python3 and make are assumed; everything else is installed into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
STAMP := $(VENV)/.installed
# The main .venv runs the newest Airflow (3.3, from uv.lock). Every other supported minor gets a lane:
# its own venv (.venv-af<minor>), pinned by the committed constraints-airflow-<minor>.txt, running the
# unit and DAG tests. The Airflow version of a lane is the one its constraints file pins.
AF_LANES := 2.11 3.0 3.1 3.2
af_version = $(shell sed -n 's/^apache-airflow==//p' constraints-airflow-$(1).in)

.PHONY: install lint typecheck test test-3.3 test-compat test-e2e-2.11 ui-2.11 $(AF_LANES:%=test-compat-%) $(AF_LANES:%=constraints-%) $(AF_LANES:%=demo-%) demo emulator bench bench-triggerer chaos chaos-quick ui clean chromium

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

# The Airflow 3.3 suite, the 2.11 browser test and every older lane run at once (output kept per
# target): their time is mostly waiting on emulated clocks, dag.test() round trips and Airflow's
# processes (about a third of a core each).
test: lint typecheck chromium
	$(MAKE) --no-print-directory --output-sync=target -j6 test-3.3 test-e2e-2.11 $(AF_LANES:%=test-compat-%)
	$(MAKE) chaos-quick

# Every test, browser test included, on the newest Airflow (.venv).
test-3.3: install chromium
	@start=$$(date +%s); $(BIN)/pytest -q -p no:cacheprovider; rc=$$?; \
	  echo "Airflow 3.3 (.venv): tests took $$(( $$(date +%s) - start )) s"; exit $$rc

# Regenerate a lane's pins from constraints-airflow-<minor>.in (needs PyPI); commit the .txt.
$(AF_LANES:%=constraints-%): constraints-%: $(UV)
	$(UV) pip compile pyproject.toml constraints-airflow-$*.in --extra test --python-version 3.11 \
	  --custom-compile-command "make constraints-$*" -q -o constraints-airflow-$*.txt

# A fresh venv each time the pins or the project's requirements change (nothing stale survives).
# All lanes share uv's cache, so a rebuild mostly copies files.
.venv-af%/.installed: $(UV) pyproject.toml constraints-airflow-%.txt
	rm -rf .venv-af$*
	$(UV) venv -q --python $(BIN)/python .venv-af$*
	$(UV) pip install -q --python .venv-af$*/bin/python --compile-bytecode \
	  -c constraints-airflow-$*.txt "apache-airflow==$(call af_version,$*)" -e ".[test]"
	.venv-af$*/bin/python -c "import airflow, sys; v = airflow.__version__; \
	  sys.exit(0 if v == '$(call af_version,$*)' else f'expected Airflow $(call af_version,$*), got {v}')"
	touch $@

# On one older Airflow minor, e.g. `make test-compat-2.11`: the unit and DAG tests (not the browser
# test), then the demo (the daily DAG green and red under `airflow dags test`).
$(AF_LANES:%=test-compat-%): test-compat-%: .venv-af%/.installed
	@start=$$(date +%s); .venv-af$*/bin/pytest -q -p no:cacheprovider -m "not e2e" \
	  && .venv-af$*/bin/python scripts/demo.py; rc=$$?; \
	  echo "lane Airflow $(call af_version,$*): tests and demo took $$(( $$(date +%s) - start )) s"; exit $$rc

# The browser test on Airflow 2.11, whose UI is another application (Flask AppBuilder):
# tests/e2e/test_browser_airflow2.py against the 2.11 stack of `make ui-2.11`. (`test-3.3` runs the
# Airflow 3 one.)
test-e2e-2.11: .venv-af2.11/.installed chromium
	@start=$$(date +%s); .venv-af2.11/bin/pytest -q -p no:cacheprovider -m e2e --durations=3 tests/e2e; rc=$$?; \
	  echo "browser test on Airflow $(call af_version,2.11) took $$(( $$(date +%s) - start )) s"; exit $$rc

# Every older lane at once (output kept per lane).
test-compat:
	$(MAKE) --no-print-directory --output-sync=target -j4 $(AF_LANES:%=test-compat-%)

demo: install
	$(BIN)/python scripts/demo.py

# The demo on an older Airflow lane, e.g. `make demo-2.11`.
$(AF_LANES:%=demo-%): demo-%: .venv-af%/.installed
	.venv-af$*/bin/python scripts/demo.py

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
	rm -rf $(VENV) $(AF_LANES:%=.venv-af%) .mypy_cache .ruff_cache .pytest_cache

ui: install
	$(BIN)/python scripts/airflow_stack.py

# The same on Airflow 2.11 (webserver, scheduler, triggerer).
ui-2.11: .venv-af2.11/.installed
	.venv-af2.11/bin/python scripts/airflow_stack.py
