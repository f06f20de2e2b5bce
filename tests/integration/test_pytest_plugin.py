"""The package's pytest plugin works in a repository of its own: a throwaway directory holding
nothing but test files, run by a pytest of its own, with only the documented fixtures.

The example in docs/testing.md is run as written, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from energy_testing import services as local_services
from tests.helpers import ROOT

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

CITY_TESTS = """
def test_a_faulty_city_in_every_format_is_stored_and_dead_lettered_exactly(city, ingest, isolated):
    town = city(sites=3, seed=5, faults="malformed=0.03,duplicate=0.03,wrong_unit=0.02")
    expected = town.backfill(hours=2, step_s=60)
    assert expected.dead_letters, "the faults make dead letters"
    ingest.wait_for(expected)
    assert isolated.count("district_heating", "energy_kwh") == expected.points["district_heating"]
    assert ingest.dead_letters() == expected.dead_letters


def test_a_live_city_publishes_in_real_time(city, ingest, isolated):
    town = city(sites=1, seed=2, formats=["native"])
    expected = town.live(3, interval_s=1)
    assert expected.points["district_heating"] == 3
    ingest.wait_for(expected)
    assert isolated.count("indoor_climate", "co2_ppm") == expected.points["indoor_climate"]
"""

NEEDS_SERVICES = """
def test_needs_the_broker(services):
    pass
"""


def documented_example() -> str:
    """The Python block after the ``<!-- example: … -->`` marker of docs/testing.md."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- example: test_substation\.py.*?-->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/testing.md lost its example"
    return found.group(1)


@pytest.fixture
def outside_the_repository(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A directory with no conftest, no pyproject and no ``tests`` package: only the plugin's
    entry point (the installed package) can provide the fixtures."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    assert not (pytester.path / "conftest.py").exists()
    return pytester


def run_pytest(pytester: pytest.Pytester, timeout_s: float) -> pytest.RunResult:
    """``python -m pytest -q`` in the throwaway directory, as ``runpytest_subprocess`` does, but
    as a child that dies with this test run (its servers die with it in turn)."""
    started = time.monotonic()
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", "basetemp"]
    proc = local_services.track(
        pytester.popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=local_services.child_preexec(signal.SIGKILL),
        )
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        proc.kill()
        proc.wait()
    outlines, errlines = (text.decode(errors="replace").splitlines() for text in (out, err))
    return pytest.RunResult(proc.returncode, outlines, errlines, time.monotonic() - started)


def test_the_documented_example_and_a_simulated_city_pass_in_a_repository_of_their_own(
    outside_the_repository: pytest.Pytester,
) -> None:
    outside_the_repository.makepyfile(test_substation=documented_example(), test_city=CITY_TESTS)
    result = run_pytest(outside_the_repository, timeout_s=900)
    assert result.ret == pytest.ExitCode.OK, "\n".join(result.outlines + result.errlines)
    result.assert_outcomes(passed=3)


def test_a_missing_mosquitto_fails_in_one_line_naming_the_debian_package(
    outside_the_repository: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSQUITTO_BIN", "mosquitto-not-installed")
    outside_the_repository.makepyfile(test_needs_services=NEEDS_SERVICES)
    result = run_pytest(outside_the_repository, timeout_s=300)
    result.assert_outcomes(errors=1)
    message = (
        "mosquitto not found (MOSQUITTO_BIN=mosquitto-not-installed is not an executable): "
        "apt-get install mosquitto"
    )
    errors = [line for line in result.outlines if "mosquitto not found" in line]
    assert errors, "\n".join(result.outlines)
    assert all(line.endswith(message) for line in errors), errors
    assert "Traceback" not in "\n".join(result.outlines)
