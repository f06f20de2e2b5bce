"""Buckets of an hour or more read the roll-ups, and answer exactly what raw points answer (issue 14).

Three API servers over one database: roll-ups off (every answer from raw points, the old path),
roll-ups on, and roll-ups on with a raw retention shorter than the data's age. The data are five
local days of 15-minute readings around each of the last two DST changes (23- and 25-hour days).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from api.precision import DECIMALS
from energy_core.registry import Registry
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest
from tests.integration.api.conftest import make_settings, roll_up, serve_in_thread, write_world_files
from tests.integration.api.rollup_world import (
    LOCAL,
    NS,
    Window,
    dst_days,
    energy_points,
    midnight,
    readings,
    write_and_roll_up,
    write_points,
)

pytestmark = pytest.mark.integration


@dataclass
class RolledWorld:
    keys: dict[str, str]
    urls: dict[str, str]  # "raw" (roll-ups off), "rolled", "short" (raw retention shorter than the data)
    spring: Window
    autumn: Window
    intervals: list[tuple[int, str, str, float]]
    short_retention_days: int

    def client(self, server: str, who: str = "operator") -> httpx.Client:
        return httpx.Client(base_url=self.urls[server], headers={"X-API-Key": self.keys[who]}, timeout=60)


@pytest.fixture(scope="module")
def rolled_world(services, tmp_path_factory) -> Iterator[RolledWorld]:
    tmp = tmp_path_factory.mktemp("rollups")
    db = f"rollups_{uuid.uuid4().hex[:10]}"
    keys = write_world_files(tmp)
    today = dt.datetime.now(LOCAL).date()
    spring_day, autumn_day = dst_days(today - dt.timedelta(days=10))
    spring, autumn = Window.around(spring_day), Window.around(autumn_day)
    points, intervals = readings(spring.start, spring.end)
    more_points, more_intervals = readings(autumn.start, autumn.end)
    write_and_roll_up(services.influx_url, db, points + more_points, spring.days + autumn.days)
    newest = max(spring.end, autumn.end)
    short = max(1, (dt.datetime.now(LOCAL) - newest).days - 1)  # both windows' raw points are "gone"
    servers = {
        "raw": {"api_rollups": False, "ingest_raw_retention_days": 0},
        "rolled": {"ingest_raw_retention_days": 0},
        "short": {"ingest_raw_retention_days": short},
    }
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve_in_thread(make_settings(services, db, tmp, **overrides)))
            for name, overrides in servers.items()
        }
        yield RolledWorld(keys, urls, spring, autumn, intervals + more_intervals, short)


def assert_same(raw: Any, rolled: Any, unit: float, where: str = "") -> None:
    """Equal JSON, numbers within one unit of their last decimal (sums added in another order)."""
    if isinstance(raw, dict):
        assert isinstance(rolled, dict), where
        assert raw.keys() == rolled.keys(), where
        for key in raw:
            assert_same(raw[key], rolled[key], unit, f"{where}.{key}")
    elif isinstance(raw, list):
        assert isinstance(rolled, list), where
        assert len(raw) == len(rolled), f"{where}: {len(raw)} vs {len(rolled)}"
        for i, (a, b) in enumerate(zip(raw, rolled, strict=True)):
            assert_same(a, b, unit, f"{where}[{i}]")
    elif isinstance(raw, float) and isinstance(rolled, float):
        assert abs(raw - rolled) <= unit * 1.0001, f"{where}: raw {raw} vs roll-ups {rolled}"
    else:
        assert raw == rolled, where


def both(world: RolledWorld, path: str, params: dict[str, str], who: str = "operator") -> tuple[Any, Any]:
    answers = []
    for server in ("raw", "rolled"):
        with world.client(server, who) as client:
            r = client.get(path, params=params)
        assert r.status_code == 200, f"{server}: {r.text}"
        answers.append(r.json())
    return answers[0], answers[1]


def local(moment: dt.datetime) -> str:
    return moment.astimezone(LOCAL).isoformat()


def ranges(window: Window) -> dict[str, dict[str, str]]:
    """The window's whole days, and one cut off the hour at both ends."""
    return {
        "whole": {"start": local(window.start), "end": local(window.end)},
        "cut": {
            "start": local(window.start + dt.timedelta(hours=6, minutes=30)),
            "end": local(window.end - dt.timedelta(hours=5, minutes=15)),
        },
    }


WINDOWS = ("spring", "autumn")
CUTS = ("whole", "cut")


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("season", WINDOWS)
@pytest.mark.parametrize("every", ["hour", "day", "month"])
def test_energy_from_roll_ups_equals_energy_from_raw_points_across_dst(rolled_world, season, cut, every):
    window = getattr(rolled_world, season)
    raw, rolled = both(
        rolled_world, "/sites/tb-1/energy", {**ranges(window)[cut], "every": every}, "tunabyggen"
    )
    assert raw["buckets"], "the range holds energy"
    assert_same(raw, rolled, 10 ** -DECIMALS["kwh"])


@pytest.mark.parametrize("season", WINDOWS)
def test_the_dst_days_are_23_and_25_local_hours_of_energy_from_the_roll_ups(rolled_world, season):
    window = getattr(rolled_world, season)
    expected: dict[str, float] = defaultdict(float)
    hours: dict[str, set[int]] = defaultdict(set)
    for ts_ns, device, _carrier, kwh in rolled_world.intervals:
        moment = dt.datetime.fromtimestamp(ts_ns // NS, LOCAL)
        if device == "hm-tb-1" and window.start <= moment < window.end:
            expected[midnight(moment.date()).isoformat()] += kwh
            hours[midnight(moment.date()).isoformat()].add(ts_ns // (3600 * NS))
    with rolled_world.client("rolled", "tunabyggen") as client:
        params = {**ranges(window)["whole"], "every": "day"}
        body = client.get("/sites/tb-1/energy", params=params).json()
    got = {b["start"]: b["kwh"] for b in body["buckets"] if b["carrier"] == "district_heat"}
    assert got.keys() == expected.keys()
    for day, kwh in expected.items():
        assert got[day] == pytest.approx(kwh, abs=0.0011)
    change = midnight(window.dst_day).isoformat()
    assert len(hours[change]) == (23 if season == "spring" else 25)


@pytest.mark.parametrize("who", ["operator", "tunabyggen", "stora"])
@pytest.mark.parametrize("every", ["day", "month", "year"])
def test_emissions_of_every_site_from_the_across_site_roll_up_equal_raw(rolled_world, who, every):
    params = {
        "start": local(rolled_world.spring.start),
        "end": local(rolled_world.autumn.end),
        "every": every,
    }
    raw, rolled = both(rolled_world, "/emissions", params, who)
    assert raw["buckets"]
    assert_same(raw, rolled, 10 ** -DECIMALS["co2e_kg"])


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("season", WINDOWS)
def test_emissions_cut_off_the_hour_and_of_one_site_equal_raw(rolled_world, season, cut):
    window = getattr(rolled_world, season)
    for path in ("/emissions", "/sites/tb-2/emissions"):
        raw, rolled = both(rolled_world, path, {**ranges(window)[cut], "every": "day"}, "tunabyggen")
        assert raw["buckets"]
        assert_same(raw, rolled, 10 ** -DECIMALS["co2e_kg"])


GAUGES = ["power_kw", "supply_temp_c", "delta_t_k"]


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("season", WINDOWS)
@pytest.mark.parametrize("every", ["1h", "2h", "1d", "2d", "1w"])
@pytest.mark.parametrize("aggregate", ["mean", "min", "max", "sum", "count", "spread"])
def test_series_of_gauges_from_roll_ups_equal_raw(rolled_world, season, cut, every, aggregate):
    window = getattr(rolled_world, season)
    params = {**ranges(window)[cut], "measurement": "district_heating", "field": GAUGES, "every": every,
              "aggregate": aggregate}  # fmt: skip
    raw, rolled = both(rolled_world, "/sites/tb-1/series", params, "tunabyggen")
    assert raw["series"][0]["points"]
    assert_same(raw, rolled, 10 ** -min(DECIMALS[f] for f in GAUGES))


@pytest.mark.parametrize("season", WINDOWS)
@pytest.mark.parametrize(
    ("path", "field", "aggregate"),
    [
        ("/sites/tb-1/series?measurement=district_heating", "energy_kwh", "first"),
        ("/sites/tb-1/series?measurement=district_heating", "energy_kwh", "last"),
        ("/sites/tb-1/series?measurement=district_heating", "info_code", "max"),
        ("/sites/tb-1/series?measurement=district_heating", "power_kw", "median"),  # raw on both
        ("/devices/em-tb-1/series?", "energy_import_kwh", "last"),
        ("/devices/in-tb-1/series?", "co2_ppm", "mean"),
        ("/devices/in-tb-1/series?", "temperature_c", "max"),
    ],
)
def test_registers_codes_and_other_devices_from_roll_ups_equal_raw(
    rolled_world, season, path, field, aggregate
):
    window = getattr(rolled_world, season)
    route, _, measurement = path.partition("?")
    params = {**ranges(window)["cut"], "field": field, "every": "1d", "aggregate": aggregate}
    if measurement:
        params["measurement"] = measurement.split("=", 1)[1]
    raw, rolled = both(rolled_world, route, params, "tunabyggen")
    assert raw["series"][0]["points"]
    assert_same(raw, rolled, 10 ** -DECIMALS[field])


def test_a_raw_range_beyond_raw_retention_is_a_400_naming_the_limit(rolled_world):
    days = rolled_world.short_retention_days
    window = rolled_world.autumn
    whole, cut = ranges(window)["whole"], ranges(window)["cut"]
    series = {"measurement": "district_heating", "field": "power_kw"}
    with rolled_world.client("short", "tunabyggen") as client:
        refused = [
            client.get("/sites/tb-1/series", params={**series, **whole}),  # raw points
            client.get("/sites/tb-1/series", params={**series, **cut, "every": "1d"}),  # a raw fragment
            client.get("/sites/tb-1/series", params={**series, **whole, "every": "15m"}),  # sub-hour
            client.get(
                "/sites/tb-1/series", params={**series, **whole, "every": "1d", "aggregate": "median"}
            ),
            client.get("/sites/tb-1/energy", params={**cut, "every": "day"}),
        ]
        for r in refused:
            assert r.status_code == 400, r.text[:300]
            assert r.json()["error"] == "beyond_raw_retention"
            assert f"kept for {days} days" in r.json()["message"]
            assert "INGEST_RAW_RETENTION_DAYS" in r.json()["message"]
        kept = client.get("/sites/tb-1/series", params={**series, **whole, "every": "1d"})
        energy = client.get("/sites/tb-1/energy", params={**whole, "every": "day"})
    assert kept.status_code == 200
    assert kept.json()["series"][0]["points"]
    assert energy.status_code == 200
    assert energy.json()["buckets"]
    raw, _ = both(rolled_world, "/sites/tb-1/series", {**series, **whole, "every": "1d"}, "tunabyggen")
    assert_same(raw, kept.json(), 10 ** -DECIMALS["power_kw"])


# -- late data and the newest hour: each with a database of its own ------------------------------


@pytest.fixture
def fresh(services, isolated, tmp_path) -> Iterator[tuple[dict[str, str], dict[str, str], str]]:
    """A raw and a roll-up server over the test's own database; the roll-ups' delay is 2 hours,
    so the newest two hours always read raw however slowly this test runs."""
    keys = write_world_files(tmp_path)
    servers = {
        "raw": {"api_rollups": False, "ingest_raw_retention_days": 0},
        "rolled": {"ingest_raw_retention_days": 0, "ingest_rollup_delay_s": 7200},
    }
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve_in_thread(make_settings(services, isolated.db, tmp_path, **kw)))
            for name, kw in servers.items()
        }
        yield keys, urls, isolated.db


def day_kwh(urls: dict[str, str], key: str, params: dict[str, str]) -> dict[str, list[float]]:
    """Each server's district-heat kWh per bucket."""
    out = {}
    for server, url in urls.items():
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            r = client.get("/sites/tb-1/energy", params=params)
        assert r.status_code == 200, r.text
        out[server] = [b["kwh"] for b in r.json()["buckets"] if b["carrier"] == "district_heat"]
    return out


def test_a_bucket_that_got_late_data_equals_raw_once_it_is_rolled_up_again(services, fresh):
    keys, urls, db = fresh
    day = dst_days(dt.date.today() - dt.timedelta(days=10))[1]
    points, _ = readings(midnight(day), midnight(day + dt.timedelta(days=1)))
    write_and_roll_up(services.influx_url, db, points, [day])
    params = {
        "start": local(midnight(day)),
        "end": local(midnight(day + dt.timedelta(days=1))),
        "every": "day",
    }
    before = day_kwh(urls, keys["tunabyggen"], params)
    assert before["raw"] == before["rolled"]
    assert before["raw"]
    late_ns = int((midnight(day) + dt.timedelta(hours=10, minutes=7)).timestamp()) * NS  # a gateway resends
    asyncio.run(
        write_points(services.influx_url, db, energy_points("hm-tb-1", "district_heat", late_ns, 500.0))
    )
    stale = day_kwh(urls, keys["tunabyggen"], params)
    assert stale["raw"] == [pytest.approx(before["raw"][0] + 500.0, abs=0.0011)]
    assert stale["rolled"] == before["rolled"]  # read from the roll-up, which has not seen it yet
    asyncio.run(roll_up(services.influx_url, db, [day]))  # what the maintainer does with the dirty bucket
    after = day_kwh(urls, keys["tunabyggen"], params)
    assert (
        after["rolled"]
        == [pytest.approx(after["raw"][0], abs=0.0011)]
        == [pytest.approx(before["raw"][0] + 500.0, abs=0.0011)]
    )


def test_the_newest_hour_counts_points_the_roll_ups_have_not_seen_yet(services, fresh):
    keys, urls, db = fresh
    now = dt.datetime.now(LOCAL)
    today = now.date()
    start = midnight(today - dt.timedelta(days=1))
    points, _ = readings(start, now - dt.timedelta(minutes=45))
    write_and_roll_up(services.influx_url, db, points, [today - dt.timedelta(days=1), today])
    newest_ns = (time.time_ns() - 30 * 60 * NS) // NS * NS  # 30 minutes ago, written after the roll-up
    asyncio.run(
        write_points(services.influx_url, db, energy_points("hm-tb-1", "district_heat", newest_ns, 777.0))
    )
    end = local(now + dt.timedelta(hours=1))
    hourly = day_kwh(urls, keys["tunabyggen"], {"start": local(start), "end": end, "every": "hour"})
    daily = day_kwh(urls, keys["tunabyggen"], {"start": local(start), "end": end, "every": "day"})
    for answer in (hourly, daily):
        assert len(answer["raw"]) == len(answer["rolled"])
        for raw, rolled in zip(answer["raw"], answer["rolled"], strict=True):
            assert rolled == pytest.approx(raw, abs=0.0011)
    assert max(hourly["rolled"]) >= 777.0  # the newest hour holds the point the roll-ups lack


async def test_late_readings_through_ingest_reach_the_api_once_its_maintainer_rolled_them_up(
    services, isolated, tmp_path
):
    """End to end: MQTT → ingest (rolling up with a 1 s delay) → the API's answer from roll-ups
    equals its raw answer, also after a gateway resends an older reading into a rolled-up day."""
    keys = write_world_files(tmp_path)
    registry = Registry.load(tmp_path / "assets.yaml")
    settings = ingest_settings(
        isolated,
        tmp_path / "data",
        ingest_unknown_devices="reject",
        ingest_rollup="on",
        ingest_rollup_delay_s=1,
    )
    day = dt.datetime.now(LOCAL).date() - dt.timedelta(days=3)
    at = [midnight(day) + dt.timedelta(hours=10, minutes=15 * i) for i in range(8)]
    topic = f"{isolated.prefix}/v1/hm-tb-1"

    def reading(moment: dt.datetime, power: float) -> tuple[str, bytes]:
        return topic, orjson.dumps({"ts": int(moment.timestamp()), "values": {"power": power}})

    params = {"measurement": "district_heating", "field": "power_kw", "every": "1d", "aggregate": "mean",
              "start": local(midnight(day)), "end": local(midnight(day + dt.timedelta(days=1)))}  # fmt: skip
    servers = {"raw": {"api_rollups": False}, "rolled": {}}

    def means(urls: dict[str, str]) -> dict[str, list[float | None]]:
        out = {}
        for server, url in urls.items():
            with httpx.Client(base_url=url, headers={"X-API-Key": keys["tunabyggen"]}, timeout=60) as client:
                body = client.get("/sites/tb-1/series", params=params).json()
            out[server] = [p["value"] for s in body.get("series", []) for p in s["points"]]
        return out

    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve_in_thread(make_settings(services, isolated.db, tmp_path, **kw)))
            for name, kw in servers.items()
        }
        async with running_ingest(settings, registry):
            with Publisher(services.mqtt_url) as publisher:
                await asyncio.to_thread(
                    publisher.publish_many, [reading(m, 100.0 + i) for i, m in enumerate(at[::2])]
                )

                def caught_up(expected: float) -> bool:
                    got = means(urls)
                    return got["rolled"] == got["raw"] == [expected]

                first = sum(100.0 + i for i in range(4)) / 4
                assert await eventually(lambda: caught_up(first), deadline_s=120), means(urls)
                late = [reading(m, 500.0) for m in at[1::2]]  # the gateway's buffer, resent late
                await asyncio.to_thread(publisher.publish_many, late)
                assert await eventually(lambda: caught_up((4 * first + 4 * 500.0) / 8), deadline_s=120), (
                    means(urls)
                )
