"""Fixtures: one real Mosquitto and one real InfluxDB per test session, on free loopback ports.

Each test isolates itself with its own topic prefix and its own database.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("local_services", ROOT / "deploy" / "local" / "services.py")
assert _spec
assert _spec.loader
local_services = importlib.util.module_from_spec(_spec)
sys.modules["local_services"] = local_services
_spec.loader.exec_module(local_services)
# Every server, ingest or other child a test starts dies with the test run (see services.py).
local_services.die_with_this_process()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Last sweep: no child a test or fixture started outlives the run (atexit repeats it)."""
    local_services.stop_started()


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """Stop the children a test started and left running (it failed before its own cleanup).

    Children of wider-scoped fixtures (the session's servers) started before this runs and are
    kept; the test's own function-scoped fixtures have been torn down when this resumes.
    """
    before = set(local_services.started())
    yield
    local_services.stop_started([proc for proc in local_services.started() if proc not in before])


def as_number(cell: object) -> float:
    """A numeric cell of an InfluxDB answer, null read as 0: InfluxDB may answer an aggregate row
    with nulls (a count over a range or field without points, seen mid-write)."""
    return float(cell) if isinstance(cell, int | float) else 0.0


@dataclass
class Services:
    mqtt_url: str
    influx_url: str
    root: Path


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Real Mosquitto and InfluxDB for the whole session (started by deploy/local/services.py)."""
    local_services.ensure_installed()
    local_services.die_with_this_process()
    root = tmp_path_factory.mktemp("services")
    mosquitto, mproc = local_services.start_mosquitto(root / "mosquitto")
    influx, iproc = local_services.start_influxd(root / "influxdb")
    try:
        yield Services(mosquitto.url, influx.url, root)
    finally:
        for proc in (mproc, iproc):
            local_services.stop_pid(proc.pid)


_counter = itertools.count()


@dataclass
class Isolation:
    """A test's own topic prefix and database."""

    prefix: str
    db: str
    services: Services

    def query(self, q: str) -> list[list[object]]:
        """Run InfluxQL against the test's database; returns the first series' values (or [])."""
        r = httpx.get(
            f"{self.services.influx_url}/query", params={"q": q, "db": self.db, "epoch": "ns"}, timeout=60
        )
        r.raise_for_status()
        result = r.json()["results"][0]
        assert "error" not in result, result
        series = result.get("series", [])
        return series[0]["values"] if series else []

    def count(self, measurement: str, field: str) -> int:
        rows = self.query(f'SELECT count("{field}") FROM "{measurement}"')  # noqa: S608 (test's own names)
        return int(as_number(rows[0][1])) if rows else 0


@pytest.fixture
def isolated(services: Services) -> Isolation:
    n = next(_counter)
    tag = f"t{os.getpid()}x{n}x{uuid.uuid4().hex[:6]}"
    return Isolation(prefix=f"test/{tag}", db=f"db_{tag}", services=services)
