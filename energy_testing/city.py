"""A simulated city for a test: build it, publish it live or back-fill it, know what to expect.

Wraps the simulators' Python API (docs/simulators.md) around one test's isolation: the city's
messages go to the test's topic prefix, its registry to the test's ``ASSETS_FILE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from simulators.city import City, Format, build_city
from simulators.faults import FaultRates
from simulators.formats import NCMD_FILTER, rebirth_requested
from simulators.publisher import Publisher
from simulators.report import GoodReading
from simulators.simulation import Simulation

# A field every stored point of the measurement has (broken temperature sensors leave the registers).
COUNTED_FIELD = {
    "district_heating": "energy_kwh",
    "electricity": "power_kw",
    "indoor_climate": "co2_ppm",
    "weather": "outdoor_temp_c",
}


@dataclass(frozen=True)
class Expected:
    """What ingest should make of everything the city published so far.

    ``points``: points per measurement; ``dead_letters``: dead letters per reason; ``faults``:
    the faults injected, per kind (the simulator's, not ground-truth substation faults: those
    come with issue #13); ``readings``: every reading that should be stored, with its values.
    """

    messages: int
    points: dict[str, int]
    dead_letters: dict[str, int]
    faults: dict[str, int]
    readings: tuple[GoodReading, ...]
    first_ts_s: float | None
    last_ts_s: float | None


class SimulatedCity:
    """What the ``city`` fixture returns: a deterministic city publishing to the test's prefix."""

    def __init__(
        self,
        city: City,
        simulation: Simulation,
        mqtt_url: str,
        assets_file: Path,
        before_publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.city = city
        self.simulation = simulation
        self.mqtt_url = mqtt_url
        self.assets_file = assets_file
        self._before_publish = before_publish

    @property
    def sites(self) -> list[str]:
        """The sites' ids, in the city's order."""
        return [site.id for site in self.city.sites]

    @property
    def devices(self) -> list[str]:
        return [device.id for device in self.city.devices]

    @property
    def owners(self) -> list[str]:
        return [owner.id for owner in self.city.owners]

    def backfill(self, hours: float = 24.0, *, step_s: float = 60.0, end_s: float | None = None) -> Expected:
        """Publish ``hours`` of readings, one per device every ``step_s``, up to ``end_s`` (default
        now), as fast as the broker takes them; returns what ingest should have stored."""
        end = time.time() if end_s is None else end_s
        return self._publish(self.simulation.run(end - hours * 3600.0, step_s, until_s=end), rate=None)

    def live(self, seconds: float, *, interval_s: float = 10.0) -> Expected:
        """Publish in real time for ``seconds``: every device reads every ``interval_s``, with the
        wall clock as its time (blocks the calling thread)."""
        now = time.time()
        rate = max(1, self.simulation.device_count) / interval_s
        return self._publish(self.simulation.run(now, interval_s, until_s=now + seconds), rate=rate)

    def _publish(self, messages: Iterable[tuple[str, bytes]], rate: float | None) -> Expected:
        self._before_publish()

        def rebirth(topic: str, payload: bytes) -> None:
            if rebirth_requested(payload):
                self.simulation.request_rebirth(topic.rsplit("/", 1)[-1])

        # Sparkplug's command topic is fixed (not under the prefix), like its data topics.
        with Publisher(self.mqtt_url, commands={NCMD_FILTER: rebirth}) as publisher:
            publisher.publish_many(messages, rate=rate)
        return self.expected()

    def expected(self) -> Expected:
        """What ingest should make of everything published so far."""
        report = self.simulation.report
        return Expected(
            messages=report.messages,
            points=dict(report.expected_points),
            dead_letters=dict(report.expected_dead_letters),
            faults=dict(report.faults),
            readings=tuple(report.good_readings),
            first_ts_s=report.first_ts_s,
            last_ts_s=report.last_ts_s,
        )


def make_city(
    *,
    sites: int,
    seed: int,
    formats: Collection[Format | str] | None,
    faults: FaultRates | str | None,
    prefix: str,
    mqtt_url: str,
    assets_file: Path,
    before_publish: Callable[[], None] = lambda: None,
) -> SimulatedCity:
    """Build the city, write its registry to ``assets_file`` and prepare its simulation."""
    chosen = [Format(f) for f in formats] if formats else None
    rates = FaultRates.parse(faults) if isinstance(faults, str) else faults
    city = build_city(sites, seed=seed, formats=chosen)
    assets_file.parent.mkdir(parents=True, exist_ok=True)
    city.write_assets(assets_file)
    simulation = Simulation(city, prefix=prefix, faults=rates, keep_readings=True)
    return SimulatedCity(city, simulation, mqtt_url, assets_file, before_publish)
