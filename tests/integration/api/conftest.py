"""A small city for the API tests: registry, keys, emission factors and data in a real InfluxDB,
and the API served by a real uvicorn on a free port (one per test module)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from api.app import create_app
from api.auth import hash_key
from api.settings import ApiSettings
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.rollups import DEFAULT_ROLLUP_RETENTION_DAYS
from energy_core.schema import Point
from energy_testing import apiserver
from ingest.rollup.cli import rebuild
from ingest.rollup.retention import ensure_policies

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DH_FACTOR = 54.9  # g CO2e/kWh, location-based, network borlange
MARKET_FACTOR = 120.0
# Four local days around the switch to summer time (2025-03-30 has 23 hours).
ENERGY_START = dt.datetime(2025, 3, 28, tzinfo=STOCKHOLM)
ENERGY_END = dt.datetime(2025, 4, 1, tzinfo=STOCKHOLM)
STEP = dt.timedelta(minutes=15)

ASSETS = {
    "owners": [
        {"id": "borlange-energi", "name": "Borlänge Energi"},
        {"id": "tunabyggen", "name": "Tunabyggen"},
        {"id": "stora-bo", "name": "Another landlord"},
    ],
    "sites": [
        {"id": "sub-1", "name": "Substation 1", "owner": "borlange-energi", "network": "borlange"},
        {
            "id": "tb-1",
            "name": "Tunabyggen Jakobsgårdarna 1",
            "owner": "tunabyggen",
            "network": "borlange",
            "floor_area_m2": 1200.0,
        },
        {"id": "tb-2", "name": "Tunabyggen Gylle 2", "owner": "tunabyggen", "network": "borlange"},
        {"id": "ot-1", "name": "Other landlord 1", "owner": "stora-bo", "network": "borlange"},
    ],
    "devices": [
        {"id": "hm-sub-1", "site": "sub-1", "kind": "heat_meter"},
        {"id": "hm-tb-1", "site": "tb-1", "kind": "heat_meter"},
        {"id": "em-tb-1", "site": "tb-1", "kind": "electricity_meter"},
        {"id": "in-tb-1", "site": "tb-1", "kind": "indoor_sensor"},
        {"id": "hm-tb-2", "site": "tb-2", "kind": "heat_meter"},
        {"id": "hm-ot-1", "site": "ot-1", "kind": "heat_meter"},
    ],
}
OWNER_OF = {s["id"]: s["owner"] for s in ASSETS["sites"]}
DEVICE_SITE = {d["id"]: d["site"] for d in ASSETS["devices"]}
# Live heat meters: power kW, supply °C, return °C.
LIVE = {"hm-sub-1": (800.0, 95.0, 45.0), "hm-tb-1": (120.0, 90.0, 40.0), "hm-tb-2": (80.0, 85.0, 45.0),
        "hm-ot-1": (200.0, 100.0, 50.0)}  # fmt: skip


def tags(device: str) -> tuple[tuple[str, str], ...]:
    site = DEVICE_SITE[device]
    return (("device", device), ("network", "borlange"), ("owner", OWNER_OF[site]), ("site", site))


def ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def heat_point(device: str, ts_ns: int, power_kw: float, supply_c: float, return_c: float) -> Point:
    return Point(
        "district_heating",
        tags(device),
        {
            "power_kw": power_kw,
            "supply_temp_c": supply_c,
            "return_temp_c": return_c,
            "delta_t_k": supply_c - return_c,
        },
        ts_ns,
    )


def interval_energy(index: int) -> float:
    """A deterministic, uneven kWh per 15 minutes."""
    return 20.0 + (index * 7919 % 13) * 0.5


def energy_points() -> tuple[list[Point], list[tuple[dt.datetime, str, float]]]:
    """Interval energy and emissions (both methods) for tb-1's heat meter and electricity meter."""
    points: list[Point] = []
    intervals: list[tuple[dt.datetime, str, float]] = []
    # Step in UTC: wall-clock arithmetic on aware local times would invent 02:00–03:00 on 30 March.
    moment, i = ENERGY_START.astimezone(dt.UTC), 0
    while moment < ENERGY_END:
        for device, carrier, scale in (("hm-tb-1", "district_heat", 1.0), ("em-tb-1", "electricity", 0.2)):
            kwh = interval_energy(i) * scale
            base = (*tags(device), ("carrier", carrier))
            points.append(Point("energy", tuple(sorted(base)), {"kwh": kwh}, ns(moment)))
            for method, factor in (("location", DH_FACTOR), ("market", MARKET_FACTOR)):
                em_tags = tuple(sorted((*base, ("method", method))))
                fields = {"co2e_kg": kwh * factor / 1000, "factor_g_per_kwh": factor}
                points.append(Point("emissions", em_tags, fields, ns(moment)))
            intervals.append((moment, carrier, kwh))
        moment += STEP
        i += 1
    return points, intervals


@dataclass
class ApiWorld:
    """The running API and what the tests need to talk to it and to its database."""

    url: str
    influx_url: str
    db: str
    settings: ApiSettings
    keys: dict[str, str]
    intervals: list[tuple[dt.datetime, str, float]]
    tmp: Path
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def write(self, points: list[Point]) -> None:
        async def go() -> None:
            async with InfluxClient(self.influx_url, self.db) as influx:
                await influx.write(encode_batch(points))

        # A thread of its own: the caller may be inside an event loop (playwright's sync API runs one).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, go()).result()

    def roll_up(self, days: Iterable[dt.date]) -> None:
        """Roll up local ``days`` after ``write``, as ingest's maintainer would within a minute."""
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, roll_up(self.influx_url, self.db, days)).result()


def make_settings(services: object, db: str, tmp: Path, **overrides: object) -> ApiSettings:
    values: dict[str, object] = {
        "influx_url": services.influx_url,  # type: ignore[attr-defined]
        "influx_db": db,
        "mqtt_url": services.mqtt_url,  # type: ignore[attr-defined]
        "api_keys_file": tmp / "api_keys.yaml",
        "assets_file": tmp / "assets.yaml",
        "emission_factors_file": tmp / "factors.yaml",
        "ingest_data_dir": tmp / "ingest",
        "api_port": 0,
        "api_stream_interval_s": 0.2,
    }
    values.update(overrides)
    return ApiSettings(**values)  # type: ignore[arg-type]


def write_world_files(tmp: Path) -> dict[str, str]:
    """Registry, emission factors and a key file; returns the plain keys by name."""
    (tmp / "assets.yaml").write_text(yaml.safe_dump(ASSETS, allow_unicode=True))
    factors = {
        # A site whose network has no factors of its own falls back to the carrier's default area.
        "version": "test",
        "defaults": {"district_heat": "elsewhere-dh"},
        "factors": [
            {"network": "borlange", "method": "location", "g_co2e_per_kwh": DH_FACTOR},
            {"network": "elsewhere-dh", "method": "location", "g_co2e_per_kwh": 999.0},
            {"network": "borlange", "method": "market", "g_co2e_per_kwh": MARKET_FACTOR},
        ],
    }
    for factor in factors["factors"]:  # type: ignore[attr-defined]
        factor.update(carrier="district_heat", valid_from="2020-01-01", source="test")
    (tmp / "factors.yaml").write_text(yaml.safe_dump(factors))
    keys = {
        "operator": f"op-{uuid.uuid4()}",
        "tunabyggen": f"tb-{uuid.uuid4()}",
        "stora": f"sb-{uuid.uuid4()}",
    }
    scopes = {"operator": "operator", "tunabyggen": "owner:tunabyggen", "stora": "owner:stora-bo"}
    document = {"keys": [{"name": n, "hash": hash_key(k), "scope": scopes[n]} for n, k in keys.items()]}
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump(document))
    return keys


async def roll_up(influx_url: str, db: str, days: Iterable[dt.date]) -> None:
    """Ingest's rebuild of the roll-ups of local ``days`` (``python -m ingest rollup``'s function)."""
    async with InfluxClient(influx_url, db, timeout_s=120) as influx:
        await ensure_policies(influx, rollup_days=DEFAULT_ROLLUP_RETENTION_DAYS, raw_days=None)
        await rebuild(influx, sorted(set(days)))


@contextlib.contextmanager
def serve_in_thread(settings: ApiSettings) -> Iterator[str]:
    """Run the API in a real uvicorn on a free loopback port, in a thread with its own event loop."""
    server, thread, url = apiserver.serve_in_thread(create_app(settings), "api-under-test", deadline_s=30)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def api_world(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    """The API over a database holding the test city's live readings and four days of energy."""
    tmp = tmp_path_factory.mktemp("api")
    db = f"api_{uuid.uuid4().hex[:10]}"
    keys = write_world_files(tmp)
    settings = make_settings(services, db, tmp)
    points, intervals = energy_points()
    now = time.time_ns()
    for device, (power, supply, ret) in LIVE.items():
        for age_s in (120, 60, 5):  # the newest one is what the overview must use
            points.append(heat_point(device, now - age_s * 10**9, power - age_s, supply, ret))
    points.append(Point("electricity", tags("em-tb-1"), {"power_kw": 12.5, "energy_import_kwh": 1000.0}, now))
    points.append(Point("indoor_climate", tags("in-tb-1"), {"temperature_c": 21.5, "co2_ppm": 650.0}, now))

    async def load() -> None:
        async with InfluxClient(services.influx_url, db) as influx:  # type: ignore[attr-defined]
            await influx.ensure_database()
            await influx.write(encode_batch(points))
        # Rolled up as ingest keeps them (issue 14): the energy days, and yesterday and today for
        # the live points (a query's newest hour reads raw; the hours before it, the roll-ups).
        days = {(ENERGY_START + dt.timedelta(days=i)).date() for i in range((ENERGY_END - ENERGY_START).days)}
        today = dt.datetime.now(STOCKHOLM).date()
        days |= {today - dt.timedelta(days=1), today}
        await roll_up(services.influx_url, db, days)  # type: ignore[attr-defined]

    asyncio.run(load())
    with serve_in_thread(settings) as url:
        yield ApiWorld(url, services.influx_url, db, settings, keys, intervals, tmp)  # type: ignore[attr-defined]
