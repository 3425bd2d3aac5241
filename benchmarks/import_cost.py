"""Import cost: what the provider adds to a task's start-up, and what its pytest plugin adds to pytest.

* Operators and sensors: in a fresh interpreter, ``import airflow.sdk`` first (the baseline, timed
  too), then ``operators.job``, ``operators.cluster``, ``sensors.job`` and ``sensors.cluster``, timed
  in-process with ``time.perf_counter`` (so interpreter start-up is not counted). The median over
  ``BENCH_IMPORT_RUNS`` (default 7, at least 7) interpreters is compared with the goal of 30 ms.
* The pytest plugin (``xplenty_emulator``, loaded by every pytest run of every project that installs
  the provider): the median wall time of ``pytest --co -q`` in an empty directory, with the plugin
  and with ``-p no:xplenty_emulator``, the two taken in turn (alternating which goes first); and,
  finer than that difference, the time to import the plugin module after ``import pytest``.

Each figure comes with the CPU time (user + system) it took, which other load on the machine hardly
disturbs: on a busy machine, compare those.

Call :func:`run` after :func:`_support.configure_airflow` (the children inherit its environment).
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = max(7, int(os.environ.get("BENCH_IMPORT_RUNS", "7")))
GOAL_MS = 30.0
PROVIDER_MODULES = (
    "airflow_provider_xplenty.operators.job",
    "airflow_provider_xplenty.operators.cluster",
    "airflow_provider_xplenty.sensors.job",
    "airflow_provider_xplenty.sensors.cluster",
)

# Prints {"sdk": [wall s, CPU s], "provider": [wall s, CPU s]} for one fresh interpreter.
IMPORT_PROBE = f"""
import importlib, json, time
start, start_cpu = time.perf_counter(), time.process_time()
import airflow.sdk
sdk, sdk_cpu = time.perf_counter(), time.process_time()
for name in {PROVIDER_MODULES!r}:
    importlib.import_module(name)
end, end_cpu = time.perf_counter(), time.process_time()
print(json.dumps({{"sdk": [sdk - start, sdk_cpu - start_cpu], "provider": [end - sdk, end_cpu - sdk_cpu]}}))
"""

# The same for the pytest plugin module, imported after pytest (as pytest loads it).
PLUGIN_PROBE = """
import json, time
import pytest
start, start_cpu = time.perf_counter(), time.process_time()
import airflow_provider_xplenty.testing
print(json.dumps({"plugin": [time.perf_counter() - start, time.process_time() - start_cpu]}))
"""

Timing = tuple[float, float]  # (wall seconds, CPU seconds), each a median


def _medians(samples: list[tuple[float, float]]) -> Timing:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def probe(code: str) -> dict[str, Timing]:
    """Run ``code`` (which prints ``{name: [wall s, CPU s]}``) in fresh interpreters; return the medians."""
    samples: dict[str, list[tuple[float, float]]] = {}
    for index in range(RUNS + 1):  # the first run may write bytecode caches: not counted
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
        )
        if index:
            for name, (wall, cpu) in json.loads(out.stdout.strip().splitlines()[-1]).items():
                samples.setdefault(name, []).append((wall, cpu))
    return {name: _medians(values) for name, values in samples.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pytest_times() -> tuple[Timing, Timing]:
    """Return the medians of ``pytest --co -q`` in an empty directory with and without the plugin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini"]
    with_plugin: list[tuple[float, float]] = []
    without: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="xplenty-bench-pytest-") as tmp:
        pathlib.Path(tmp, "pytest.ini").write_text("[pytest]\n")
        for index in range(RUNS + 1):
            pair = [(with_plugin, []), (without, ["-p", "no:xplenty_emulator"])]
            for samples, extra in pair if index % 2 else pair[::-1]:
                start, start_cpu = time.perf_counter(), _children_cpu()
                out = subprocess.run([*base, *extra], cwd=tmp, env=env, capture_output=True, timeout=300)
                elapsed, cpu = time.perf_counter() - start, _children_cpu() - start_cpu
                if out.returncode not in (0, 5):  # 5: no tests collected, as expected here
                    raise RuntimeError(f"pytest failed: {out.stdout.decode()} {out.stderr.decode()}")
                if index:
                    samples.append((elapsed, cpu))
    return _medians(with_plugin), _medians(without)


def _row(what: str, timing: Timing) -> str:
    return f"{what:62} {timing[0] * 1000:8.1f} {timing[1] * 1000:8.1f}"


def run() -> None:
    """Measure and print the import-cost table."""
    started = time.monotonic()
    imports = probe(IMPORT_PROBE)
    sdk, provider = imports["sdk"], imports["provider"]
    plugin = probe(PLUGIN_PROBE)["plugin"]
    with_plugin, without = pytest_times()
    verdict = "meets" if provider[0] * 1000 <= GOAL_MS else "MISSES"
    print()
    print(f"Import cost (median of {RUNS} fresh interpreters)")
    print(f"{'what':62} {'ms':>8} {'CPU ms':>8}")
    print(_row("baseline: import airflow.sdk", sdk))
    print(_row("provider: operators.job/.cluster, sensors.job/.cluster", provider))
    print(f"{'goal for the provider imports (after airflow.sdk)':62} {GOAL_MS:8.1f}")
    print(f"Goal: <= {GOAL_MS:.0f} ms -> {provider[0] * 1000:.1f} ms ({verdict})")
    print()
    print(f"pytest --co -q in an empty directory (median of {RUNS} runs each)")
    print(f"{'what':62} {'ms':>8} {'CPU ms':>8}")
    print(_row("with the xplenty_emulator plugin", with_plugin))
    print(_row("without it (-p no:xplenty_emulator)", without))
    added = (with_plugin[0] - without[0], with_plugin[1] - without[1])
    print(_row("the plugin adds (difference of the two)", added))
    print(_row("import of the plugin module after import pytest (in-process)", plugin))
    print(f"Import-cost benchmark time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    from _support import configure_airflow

    configure_airflow()
    run()
