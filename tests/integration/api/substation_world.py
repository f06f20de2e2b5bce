"""A city of five substations with daily KPIs and fault findings written straight into InfluxDB
in the analysis layout (energy_core/analysis.py: ``rollup_1d``, one point per site per local day
at local midnight), and the API over it. Used by the substation/fault API tests and the live page.

The KPI week is 23–29 March 2026 (29 March has 23 hours: summer time begins), with one day
either side that a week ending on the 29th must leave out. Fault findings sit around today, so
"open" means what it means now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
import yaml

from api.app import create_app
from energy_core.analysis import RP, SUBSTATION_FAULT, SUBSTATION_KPI
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch, series_key
from energy_core.rollups import DEFAULT_ROLLUP_RETENTION_DAYS
from energy_core.schema import Point
from energy_testing import apiserver
from ingest.rollup.retention import ensure_policies
from tests.integration.api.conftest import ApiWorld, make_settings, write_world_files

STOCKHOLM = ZoneInfo("Europe/Stockholm")

OWNERS = [
    {"id": "borlange-energi", "name": "Borlänge Energi"},
    {"id": "tunabyggen", "name": "Tunabyggen"},
    {"id": "stora-bo", "name": "Another landlord"},
]
SITES = [
    {"id": "sub-1", "name": "Substation 1", "owner": "borlange-energi", "network": "borlange",
     "address": "Röda vägen 1, Borlänge"},
    {"id": "tb-1", "name": "Tunabyggen Jakobsgårdarna 1", "owner": "tunabyggen", "network": "borlange",
     "address": "Jakobsgårdarna 1, Borlänge"},
    {"id": "tb-2", "name": "Tunabyggen Gylle 2", "owner": "tunabyggen", "network": "borlange",
     "address": "Gyllehemsvägen 2, Borlänge"},
    {"id": "ot-1", "name": "Other landlord 1", "owner": "stora-bo", "network": "borlange",
     "address": "Stationsgatan 3, Borlänge"},
    {"id": "ot-2", "name": "Other landlord Falun", "owner": "stora-bo", "network": "falun",
     "address": "Åsgatan 9, Falun"},
]  # fmt: skip
ASSETS = {
    "owners": OWNERS,
    "sites": SITES,
    "devices": [{"id": f"hm-{s['id']}", "site": s["id"], "kind": "heat_meter"} for s in SITES],
}
OWNER_OF = {s["id"]: s["owner"] for s in SITES}
NETWORK_OF = {s["id"]: s["network"] for s in SITES}

WEEK_END = dt.date(2026, 3, 29)  # a Sunday, the day summer time begins
# Daily KPIs by site and day: (volume m³, ΔT K, return °C, heat kWh, peak kW, excess m³).
KPI_DAYS: dict[str, dict[dt.date, tuple[float, float, float, float, float, float]]] = {
    "sub-1": {
        dt.date(2026, 3, 22): (1000.0, 5.0, 80.0, 5700.0, 300.0, 800.0),  # the day before the week
        dt.date(2026, 3, 23): (10.0, 50.0, 40.0, 580.0, 40.0, 0.0),
        dt.date(2026, 3, 29): (30.0, 30.0, 60.0, 1050.0, 70.0, 12.0),
        dt.date(2026, 3, 30): (1000.0, 5.0, 80.0, 5700.0, 300.0, 800.0),  # the day after
    },
    "tb-1": {dt.date(2026, 3, 25): (20.0, 45.0, 35.0, 1030.0, 60.0, 0.0)},
    "tb-2": {dt.date(2026, 3, 26): (15.0, 25.0, 50.0, 430.0, 30.0, 5.0)},
    "ot-1": {dt.date(2026, 3, 27): (25.0, 40.0, 45.0, 1150.0, 55.0, 0.0)},
    "ot-2": {dt.date(2026, 3, 28): (5.0, 20.0, 60.0, 115.0, 10.0, 3.0)},
}
# Live heat-meter readings for the overview: flow m³/h, supply °C, return °C, power kW.
LIVE_FLOW = {"hm-sub-1": (10.0, 90.0, 40.0, 572.5), "hm-tb-1": (1.0, 70.0, 50.0, 22.9)}


@functools.cache
def today() -> dt.date:
    """The local day the findings are written around, once per run: a test that runs after
    midnight still expects what the fixture wrote (the API's windows reach a day past today)."""
    return dt.datetime.now(STOCKHOLM).date()


def midnight_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=STOCKHOLM).timestamp()) * 1_000_000_000


def site_tags(site: str, owner: str | None = None) -> tuple[tuple[str, str], ...]:
    return (("network", NETWORK_OF[site]), ("owner", owner or OWNER_OF[site]), ("site", site))


def kpi_point(site: str, day: dt.date, kpi: tuple[float, float, float, float, float, float]) -> Point:
    volume, delta_t, ret, heat, peak, excess = kpi
    fields = {
        "heat_kwh": heat,
        "volume_m3": volume,
        "delta_t_k": delta_t,
        "return_temp_c": ret,
        "supply_temp_c": ret + delta_t,
        "specific_flow_m3_per_mwh": volume / (heat / 1000),
        "excess_flow_m3": excess,
        "peak_load_kw": peak,
        "outdoor_temp_c": -2.0,
        "hours": 24.0,
        "readings": 96.0,
        "from_registers": 1.0,
    }
    return Point(SUBSTATION_KPI, site_tags(site), fields, midnight_ns(day))


@dataclass(frozen=True)
class Finding:
    site: str
    code: str
    severity: str
    day_offset: int  # days before today
    active: float
    value: float
    threshold: float
    text: str
    since_offset: int  # days before today that the condition began (at 03:00)


def findings() -> list[Finding]:
    """tb-2: low ΔT for the last three days (open), high return 6–5 days ago (closed: cleared 4
    days ago); ot-1: silent yesterday, its latest analysed day (open); sub-1: frozen sensor 10–9 and
    7 days ago (two closed episodes). A finding tagged for tb-1 under stora-bo is nobody's."""
    return [
        Finding("tb-2", "low_delta_t", "warning", 2, 1.0, 18.0, 25.0, "ΔT 18.0 K < 25 K over 24 h", 2),
        Finding("tb-2", "low_delta_t", "warning", 1, 1.0, 17.0, 25.0, "ΔT 17.0 K < 25 K over 24 h", 2),
        Finding("tb-2", "low_delta_t", "warning", 0, 1.0, 16.5, 25.0, "ΔT 16.5 K < 25 K over 24 h", 2),
        Finding("tb-2", "high_return_temp", "warning", 6, 1.0, 52.0, 45.0, "return 52.0 °C > 45 °C", 6),
        Finding("tb-2", "high_return_temp", "warning", 5, 1.0, 53.0, 45.0, "return 53.0 °C > 45 °C", 6),
        Finding("tb-2", "high_return_temp", "warning", 4, 0.0, 44.0, 45.0, "cleared", 6),
        Finding("ot-1", "silent_meter", "critical", 1, 1.0, 30.0, 6.0, "nothing for 30 h (usual 1 h)", 2),
        Finding("sub-1", "frozen_sensor", "warning", 10, 1.0, 12.0, 6.0, "return constant 12 h", 10),
        Finding("sub-1", "frozen_sensor", "warning", 9, 1.0, 24.0, 6.0, "return constant 24 h", 10),
        Finding("sub-1", "frozen_sensor", "warning", 7, 1.0, 8.0, 6.0, "return constant 8 h", 7),
    ]


def since_s(f: Finding) -> int:
    """03:00 local wall-clock time (not midnight + 3 h: a DST day is 23 or 25 hours long)."""
    day = today() - dt.timedelta(days=f.since_offset)
    return int(dt.datetime(day.year, day.month, day.day, 3, tzinfo=STOCKHOLM).timestamp())


def fault_line(f: Finding, owner: str | None = None) -> str:
    """A ``substation_fault`` point as line protocol (its ``text`` is a string field)."""
    day = today() - dt.timedelta(days=f.day_offset)
    tags = tuple(sorted((*site_tags(f.site, owner), ("code", f.code), ("severity", f.severity))))
    text = f.text.replace("\\", "\\\\").replace('"', '\\"')
    fields = f"active={f.active!r},since_s={float(since_s(f))!r},value={f.value!r},threshold={f.threshold!r}"
    return f'{series_key(SUBSTATION_FAULT, tags)} {fields},text="{text}" {midnight_ns(day)}'


def analysis_lines() -> bytes:
    points = [kpi_point(site, day, kpi) for site, days in KPI_DAYS.items() for day, kpi in days.items()]
    # Latest analysed days: today for tb-2 and sub-1, yesterday for ot-1 (its meter went silent).
    # The last days, for the live page's default week: tb-2 cools badly (ΔT 18), then ot-1, sub-1.
    recent = {"tb-2": (10.0, 18.0, 62.0, 209.0, 12.0, 5.0), "sub-1": (10.0, 40.0, 45.0, 465.0, 25.0, 0.0),
              "ot-1": (10.0, 35.0, 48.0, 407.0, 20.0, 1.0)}  # fmt: skip
    for site, offsets in (("tb-2", (2, 1, 0)), ("sub-1", (1, 0)), ("ot-1", (2, 1))):
        points += [kpi_point(site, today() - dt.timedelta(days=o), recent[site]) for o in offsets]
    lines = [fault_line(f) for f in findings()]
    # Tagged with another owner than the registry's: belongs to no registered site.
    lines.append(fault_line(Finding("tb-1", "meter_alarm", "critical", 0, 1.0, 8.0, 0.0, "x", 0), "stora-bo"))
    return encode_batch(points) + b"\n" + "\n".join(lines).encode()


def live_points(now_ns: int) -> list[Point]:
    """Two flowing meters, every 10 minutes over the last two hours, the newest 5 s ago."""
    return [
        Point(
            "district_heating",
            (("device", device), *site_tags(device.removeprefix("hm-"))),
            {"flow_m3h": flow, "supply_temp_c": s, "return_temp_c": r, "delta_t_k": s - r, "power_kw": p},
            now_ns - (5 + 600 * k) * 1_000_000_000,
        )
        for device, (flow, s, r, p) in LIVE_FLOW.items()
        for k in range(12)
    ]


@pytest.fixture(scope="module", name="sub_world")
def sub_world_fixture(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    """The API over the five substations' analysis results and two live, flowing meters."""
    tmp = tmp_path_factory.mktemp("substations")
    db = f"sub_{uuid.uuid4().hex[:10]}"
    keys = write_world_files(tmp)
    (tmp / "assets.yaml").write_text(yaml.safe_dump(ASSETS, allow_unicode=True))
    settings = make_settings(services, db, tmp)
    influx_url: str = services.influx_url  # type: ignore[attr-defined]

    async def load() -> None:
        async with InfluxClient(influx_url, db) as influx:
            await influx.ensure_database()
            await ensure_policies(influx, rollup_days=DEFAULT_ROLLUP_RETENTION_DAYS, raw_days=None)
            await influx.write(analysis_lines(), rp=RP)
            await influx.write(encode_batch(live_points(time.time_ns())))

    # A thread of its own: playwright's sync API may be running an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, load()).result()
    server, thread, url = apiserver.serve_in_thread(create_app(settings), "api-substations", deadline_s=30)
    try:
        yield ApiWorld(url, influx_url, db, settings, keys, [], tmp)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
