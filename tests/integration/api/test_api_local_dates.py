"""Dates without an offset are Swedish local time in queries, and ``every`` is bounded (issue 12)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from tests.integration.api.conftest import make_settings, serve_in_thread, tags, write_world_files

pytestmark = pytest.mark.integration


def energy_at(moment: dt.datetime, kwh: float) -> Point:
    point_tags = tuple(sorted((*tags("hm-tb-1"), ("carrier", "district_heat"))))
    return Point("energy", point_tags, {"kwh": kwh}, int(moment.timestamp()) * 1_000_000_000)


@pytest.fixture
def local_world(services, isolated, tmp_path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    keys = write_world_files(tmp_path)
    points = [
        energy_at(dt.datetime(2026, 10, 31, 22, 30, tzinfo=dt.UTC), 13.0),  # 23:30 local, 31 October
        energy_at(dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC), 5.0),  # 00:30 local, 1 November
        energy_at(dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC), 7.0),
        energy_at(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), 11.0),  # 00:30 local, 1 December
    ]

    async def load() -> None:
        async with InfluxClient(services.influx_url, isolated.db) as influx:
            await influx.ensure_database()
            await influx.write(encode_batch(points))

    asyncio.run(load())
    with (
        serve_in_thread(make_settings(services, isolated.db, tmp_path)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": keys["tunabyggen"]}, timeout=30) as client,
    ):
        yield client


def test_a_month_of_dates_without_offsets_is_the_local_month_and_nothing_else(local_world):
    client = local_world
    november = {"start": "2026-11-01", "end": "2026-12-01", "every": "month"}
    r = client.get("/sites/tb-1/energy", params=november)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["start"] == "2026-10-31T23:00:00Z"
    assert body["end"] == "2026-11-30T23:00:00Z"
    assert [(b["start"], b["carrier"], b["kwh"]) for b in body["buckets"]] == [
        ("2026-11-01T00:00:00+01:00", "district_heat", 12.0)  # 00:30 on 1 November counts, 1 December not
    ]


def test_a_local_day_without_offsets_ends_at_local_midnight(local_world):
    client = local_world
    r = client.get("/sites/tb-1/energy", params={"start": "2026-10-31", "end": "2026-11-01", "every": "day"})
    assert r.status_code == 200, r.text
    got = [(b["start"], b["kwh"]) for b in r.json()["buckets"]]
    assert got == [("2026-10-31T00:00:00+01:00", 13.0)]  # 00:30 local on 1 November is the next day


def test_an_every_that_overflows_influxdb_is_a_422_not_a_502(local_world):
    client = local_world
    params = {"measurement": "district_heating", "field": "power_kw", "aggregate": "mean"}
    r = client.get("/sites/tb-1/series", params={**params, "every": "15251w"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_every"
    assert "366d" in r.json()["message"]
    assert client.get("/sites/tb-1/series", params={**params, "every": "52w"}).status_code == 200
    assert client.get("/sites/tb-1/series", params={**params, "every": "367d"}).status_code == 422
