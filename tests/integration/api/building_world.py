"""Buildings for the performance and report tests (issue 16): hand-made daily ``building_kpi``
points written straight into ``rollup_1d`` in the contract layout (energy_core/analysis.py), a
few emissions rolled up by ingest's own rebuild, and the API served over them.

The days (local, Europe/Stockholm), by building:

- ``tb-1`` (Tunabyggen, 1000 m²): 2024-03-01 … 2026-02-28, two 365-day years. Day ``j`` of its year
  (counted from 1 March) has ``k = j % 5``; 365 = 73 cycles of five days.
  Current year (from 2025-03-01): outdoor −3, 2, 7, 12, 22 °C, degree days (17 °C) 20, 15, 10, 5, 0.
  Previous year (from 2024-03-01), 5 K colder: outdoor −8, −3, 2, 7, 12 °C, degree days 25, 20, 15, 10, 5.
  Both years: heat = 24 · (2 kW + 0.5 kW/K · dd) = 48 + 12 · dd kWh (an exact signature: base 2 kW,
  slope 0.5 kW/K, balance 17 °C), base 48 kWh, normal degree days 11, electricity 30 kWh,
  comfort_low 1 h on k = 0, comfort_high 0.5 h, co2_high 2 h on k = 1, indoor 24 h.
- ``tb-2`` (Tunabyggen, 500 m², a name with markup and a ``;``): the current year only, every day
  heat 200, base 50, dd 10, normal dd 11, electricity 20, outdoor 7 °C (no spread: no signature).
- ``tb-3`` (Tunabyggen, no floor area): January 2026 only: heat 100 = base 100, dd 0, electricity 10.
- ``ot-1`` (another owner, 800 m²): both years, large numbers that must never reach Tunabyggen.

Emissions (raw, rolled up): on 2026-01-10 tb-1 district heat 12.5 kg (location) / 30.0 kg (market),
electricity 1.5 kg (location); tb-2 district heat 4.0 / 8.0; ot-1 1000.0 / 2000.0; on 2026-01-20 tb-1
district heat 7.25 / 15.5.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from api.auth import hash_key
from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from tests.integration.api.conftest import make_settings, roll_up, serve_in_thread

TB2_NAME = 'Gylle <b>2</b> & "Co"; Södra'
ASSETS = {
    "owners": [
        {"id": "tunabyggen", "name": "Tunabyggen"},
        {"id": "stora-bo", "name": "Stora <Bo>"},
    ],
    "sites": [
        {"id": "tb-1", "name": "Jakobsgårdarna 1", "owner": "tunabyggen", "floor_area_m2": 1000.0},
        {"id": "tb-2", "name": TB2_NAME, "owner": "tunabyggen", "floor_area_m2": 500.0},
        {"id": "tb-3", "name": "Garage 3", "owner": "tunabyggen"},
        {"id": "ot-1", "name": "Other landlord 1", "owner": "stora-bo", "floor_area_m2": 800.0},
    ],
    "devices": [],
}
# The sites name no network: district heat falls back to the default area, a placeholder here.
FACTORS = {
    "version": "test",
    "defaults": {"district_heat": "test-dh", "electricity": "SE3"},
    "factors": [
        {"carrier": "district_heat", "network": "test-dh", "method": "location", "g_co2e_per_kwh": 54.9,
         "source": "PLACEHOLDER: a stand-in <value>", "placeholder": True},
        {"carrier": "district_heat", "network": "test-dh", "method": "market", "g_co2e_per_kwh": 120.0,
         "source": "PLACEHOLDER: a stand-in market value", "placeholder": True},
        {"carrier": "electricity", "zone": "SE3", "method": "location", "g_co2e_per_kwh": 36.0,
         "source": "Sweden 2023"},
    ],
}  # fmt: skip
for _factor in FACTORS["factors"]:  # type: ignore[attr-defined]
    _factor["valid_from"] = "2020-01-01"
OWNER_OF = {s["id"]: s["owner"] for s in ASSETS["sites"]}
PREVIOUS_START = dt.date(2024, 3, 1)
CURRENT_START = dt.date(2025, 3, 1)
END = dt.date(2026, 3, 1)  # the current year is [CURRENT_START, END)
EMISSION_DAYS = (dt.date(2026, 1, 10), dt.date(2026, 1, 20))


def days(first: dt.date, last_excl: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last_excl - first).days)]


def kpi(site: str, day: dt.date, fields: dict[str, float]) -> Point:
    tags = (("owner", OWNER_OF[site]), ("site", site))
    return Point(analysis.BUILDING_KPI, tags, fields, rollups.local_midnight_ns(day))


def tb1_day(j: int, current: bool) -> dict[str, float]:
    k = j % 5
    outdoor = (-3.0, 2.0, 7.0, 12.0, 22.0)[k] if current else (-8.0, -3.0, 2.0, 7.0, 12.0)[k]
    dd = max(0.0, 17.0 - outdoor)
    return {
        "heat_kwh": 48.0 + 12.0 * dd,
        "electricity_kwh": 30.0,
        "degree_days": dd,
        "normal_degree_days": 11.0,
        "base_kwh": 48.0,
        "outdoor_temp_c": outdoor,
        "comfort_low_h": 1.0 if k == 0 else 0.0,
        "comfort_high_h": 0.5,
        "co2_high_h": 2.0 if k == 1 else 0.0,
        "indoor_hours": 24.0,
    }


def kpi_points() -> list[Point]:
    points = []
    for year_start, current in ((PREVIOUS_START, False), (CURRENT_START, True)):
        for j, day in enumerate(days(year_start, year_start.replace(year=year_start.year + 1))):
            points.append(kpi("tb-1", day, tb1_day(j, current)))
            big = {"heat_kwh": 9999.0, "electricity_kwh": 999.0, "degree_days": 10.0}
            points.append(kpi("ot-1", day, {**big, "normal_degree_days": 11.0, "base_kwh": 99.0}))
    flat = {"heat_kwh": 200.0, "electricity_kwh": 20.0, "degree_days": 10.0, "normal_degree_days": 11.0}
    zero_comfort = {"comfort_low_h": 0.0, "comfort_high_h": 0.0, "co2_high_h": 0.0, "indoor_hours": 0.0}
    for day in days(CURRENT_START, END):
        points.append(kpi("tb-2", day, {**flat, **zero_comfort, "base_kwh": 50.0, "outdoor_temp_c": 7.0}))
    for day in days(dt.date(2026, 1, 1), dt.date(2026, 2, 1)):
        fields = {"heat_kwh": 100.0, "electricity_kwh": 10.0, "degree_days": 0.0, "normal_degree_days": 0.0}
        points.append(kpi("tb-3", day, {**fields, **zero_comfort, "base_kwh": 100.0}))
    return points


def emission(site: str, carrier: str, method: str, kg: float, moment: dt.datetime) -> Point:
    tags = (
        ("carrier", carrier),
        ("device", f"m-{site}-{carrier}"),
        ("method", method),
        ("owner", OWNER_OF[site]),
        ("site", site),
    )
    factor = 54.9 if method == "location" else 120.0
    fields = {"co2e_kg": kg, "factor_g_per_kwh": factor}
    return Point("emissions", tags, fields, int(moment.timestamp()) * 10**9)


def emission_points() -> list[Point]:
    tz = rollups.ZONE
    first = dt.datetime(2026, 1, 10, 12, 0, tzinfo=tz)
    second = dt.datetime(2026, 1, 20, 8, 0, tzinfo=tz)
    return [
        emission("tb-1", "district_heat", "location", 12.5, first),
        emission("tb-1", "district_heat", "market", 30.0, first),
        emission("tb-1", "electricity", "location", 1.5, first),
        emission("tb-2", "district_heat", "location", 4.0, first),
        emission("tb-2", "district_heat", "market", 8.0, first),
        emission("ot-1", "district_heat", "location", 1000.0, first),
        emission("ot-1", "district_heat", "market", 2000.0, first),
        emission("tb-1", "district_heat", "location", 7.25, second),
        emission("tb-1", "district_heat", "market", 15.5, second),
    ]


@dataclass
class BuildingWorld:
    url: str
    keys: dict[str, str]

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@contextlib.contextmanager
def serve(services: object, tmp: Path) -> Iterator[BuildingWorld]:
    """A database holding the buildings above, and the API over it (stopped on exit)."""
    db = f"bld_{uuid.uuid4().hex[:10]}"
    (tmp / "assets.yaml").write_text(yaml.safe_dump(ASSETS, allow_unicode=True))
    keys = {name: f"{name}-{uuid.uuid4()}" for name in ("operator", "tunabyggen", "stora")}
    scopes = {"operator": "operator", "tunabyggen": "owner:tunabyggen", "stora": "owner:stora-bo"}
    document = {"keys": [{"name": n, "hash": hash_key(k), "scope": scopes[n]} for n, k in keys.items()]}
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump(document))
    influx_url: str = services.influx_url  # type: ignore[attr-defined]

    async def load() -> None:
        async with InfluxClient(influx_url, db, timeout_s=60) as influx:
            await influx.ensure_database()
            await influx.write(encode_batch(emission_points()))
        await roll_up(influx_url, db, EMISSION_DAYS)  # also creates the roll-up policies
        async with InfluxClient(influx_url, db, timeout_s=60) as influx:
            await influx.write(encode_batch(kpi_points()), rp=analysis.RP)

    asyncio.run(load())
    (tmp / "factors.yaml").write_text(yaml.safe_dump(FACTORS, allow_unicode=True))
    settings = make_settings(services, db, tmp)
    with serve_in_thread(settings) as url:
        yield BuildingWorld(url, keys)
