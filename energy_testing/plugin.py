"""The ``energy_testing`` pytest plugin: real Mosquitto and InfluxDB, ingest, the API, a city.

Registered through the ``pytest11`` entry point, so installing the package enables it
(``-p no:energy_testing`` disables it). Fixtures (docs/testing.md):

- ``services`` (session): real Mosquitto and InfluxDB on free loopback ports, started without
  containers; fails with one line naming the Debian package when a binary is missing.
- ``isolated``: the test's own topic prefix and database on them, with ``query``/``count``.
- ``city``: ``city(sites=…, seed=…, formats=…, faults=…)`` builds a deterministic simulated city
  publishing to the test's prefix; ``.backfill(hours=…)`` or ``.live(seconds)`` publish it and
  return the :class:`~energy_testing.city.Expected` points and dead letters.
- ``ingest``: ``python -m ingest`` bound to the test's prefix and database and to the city's
  registry, started when the city first publishes; ``ingest.wait_for(expected)``.
- ``api``: the query API over the test's database, ``api.operator`` and ``api.owner(id)``
  clients with their keys.

Every process a fixture or a test starts through :mod:`energy_testing.services` dies with the
test run: the kernel's parent-death signal covers ``kill -9`` of pytest, the sweeps below a
failed test or a normal end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from energy_testing import services as local_services
from energy_testing.errors import NotInstalled

if TYPE_CHECKING:
    from energy_testing.apiserver import Api
    from energy_testing.city import SimulatedCity
    from energy_testing.ingest import Ingest
    from energy_testing.world import Isolation, Services
    from simulators.city import Format
    from simulators.faults import FaultRates

# The rest of the harness (httpx, the simulators, the API) is imported by the fixtures that use
# it: installed, the plugin loads in every pytest run of the environment, and must load fast.

CityFactory = Callable[..., "SimulatedCity"]


def pytest_configure(config: pytest.Config) -> None:
    # Every server, ingest or other child started from now on dies with the test run.
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


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Real Mosquitto and InfluxDB for the whole session, on free loopback ports."""
    from energy_testing.world import Services

    try:
        local_services.require_installed()
    except NotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    local_services.die_with_this_process()
    root = tmp_path_factory.mktemp("services")
    mosquitto, mproc = local_services.start_mosquitto(root / "mosquitto")
    try:
        influx, iproc = local_services.start_influxd(root / "influxdb")
    except BaseException:
        local_services.stop_pid(mproc.pid)
        raise
    try:
        yield Services(mosquitto.url, influx.url, root)
    finally:
        for proc in (mproc, iproc):
            local_services.stop_pid(proc.pid)


@pytest.fixture
def isolated(services: Services) -> Isolation:
    """The test's own topic prefix and database (created by whoever writes first)."""
    from energy_testing.world import Isolation

    return Isolation.new(services)


@pytest.fixture
def energy_folder(tmp_path: Path) -> Path:
    """Where the test's registry, ingest data, logs and API keys live."""
    folder = tmp_path / "energy"
    folder.mkdir()
    return folder


@pytest.fixture
def ingest(isolated: Isolation, energy_folder: Path) -> Iterator[Ingest]:
    """Ingest bound to the test's prefix, database and city registry; started on first use."""
    from energy_testing.ingest import Ingest

    running = Ingest(isolated, energy_folder / "ingest", energy_folder / "assets.yaml")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(isolated: Isolation, energy_folder: Path) -> Iterator[Api]:
    """The query API over the test's database; started on first use, with the city's registry."""
    from energy_testing.apiserver import Api

    served = Api(
        isolated, energy_folder / "api", energy_folder / "assets.yaml", energy_folder / "ingest" / "data"
    )
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def city(isolated: Isolation, energy_folder: Path, request: pytest.FixtureRequest) -> CityFactory:
    """``city(sites=1, seed=1, formats=None, faults=None)``: a simulated city for this test.

    ``formats``: names or :class:`~simulators.city.Format` values (default: every format);
    ``faults``: a :class:`~simulators.faults.FaultRates`, ``"realistic"`` or
    ``"malformed=0.01,duplicate=0.02"``. One city per test. When the test uses ``ingest``, the
    city's first publish starts it with the city's registry.
    """
    from energy_testing.city import make_city

    ingest_running: Ingest | None = (
        request.getfixturevalue("ingest") if "ingest" in request.fixturenames else None
    )
    built: list[SimulatedCity] = []

    def factory(
        sites: int = 1,
        seed: int = 1,
        formats: Collection[Format | str] | None = None,
        faults: FaultRates | str | None = None,
    ) -> SimulatedCity:
        if built:
            raise RuntimeError("one city per test: ingest and the API load a single registry")
        town = make_city(
            sites=sites,
            seed=seed,
            formats=formats,
            faults=faults,
            prefix=isolated.prefix,
            mqtt_url=isolated.services.mqtt_url,
            assets_file=energy_folder / "assets.yaml",
            before_publish=ingest_running.start if ingest_running is not None else lambda: None,
        )
        built.append(town)
        return town

    return factory
