"""Commissioning mode does not leak onto tenants' sites: an unregistered device that happens to be
named like a site is stored as ``unassigned`` and shows up only in operators' network-wide views.
Real ingest (INGEST_UNKNOWN_DEVICES=accept) writes, the real API reads, both on a real InfluxDB."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

import httpx
import orjson
import pytest

from energy_core.registry import Registry
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest
from tests.integration.api.conftest import make_settings, serve_in_thread, write_world_files

pytestmark = pytest.mark.integration

SITE = "tb-1"  # Tunabyggen's site; the commissioning device publishes under this very id
HEAT = {"supply_temp": 70.0, "return_temp": 40.0}


async def ingest_in_commissioning_mode(isolated, tmp_path: Path) -> list[list[object]]:
    """Publish an unregistered device named like the site and the site's own meter; the stored rows."""
    now_s = time.time()
    unregistered = [
        {"ts": now_s - 900, "values": {"power": 987.0, "energy": 1000.0, **HEAT}},
        {"ts": now_s - 30, "values": {"power": 987.0, "energy": 1250.0, **HEAT}},
    ]
    registered = [{"ts": now_s - 30, "values": {"power": 50.0, **HEAT}}]
    settings = ingest_settings(isolated, tmp_path / "ingest", ingest_unknown_devices="accept")
    async with running_ingest(settings, Registry.load(tmp_path / "assets.yaml")):
        with Publisher(isolated.services.mqtt_url) as publisher:
            messages = [
                (f"{isolated.prefix}/v1/{SITE}", orjson.dumps(unregistered)),
                (f"{isolated.prefix}/v1/hm-tb-1", orjson.dumps(registered)),
            ]
            await asyncio.to_thread(publisher.publish_many, messages)

        def stored() -> list[list[object]]:
            q = f'SELECT "power_kw", "device", "owner" FROM "district_heating" WHERE "site" = \'{SITE}\''  # noqa: S608
            rows = isolated.query(q)
            return rows if len(rows) == 3 else []

        return await eventually(stored)  # type: ignore[no-any-return]


def test_an_unassigned_device_named_like_a_site_is_not_in_that_sites_answers(services, isolated, tmp_path):
    keys = write_world_files(tmp_path)
    rows = asyncio.run(ingest_in_commissioning_mode(isolated, tmp_path))
    # The leak is real in the database: the unassigned device carries the site's id as its site tag.
    assert sorted((r[2], r[3]) for r in rows) == [
        ("hm-tb-1", "tunabyggen"),
        (SITE, "unassigned"),
        (SITE, "unassigned"),
    ]
    energy = isolated.query('SELECT sum("kwh") FROM "energy" WHERE "owner" = \'unassigned\'')
    assert energy, "the unassigned device's interval energy was derived and stored"

    with serve_in_thread(make_settings(services, isolated.db, tmp_path)) as url:
        for who in ("tunabyggen", "operator"):
            with httpx.Client(base_url=url, headers={"X-API-Key": keys[who]}, timeout=30) as client:
                latest = client.get(f"/sites/{SITE}/latest").json()
                assert [r["device"] for r in latest["readings"]] == ["hm-tb-1"], who
                params = {"measurement": "district_heating", "field": "power_kw"}
                series = client.get(f"/sites/{SITE}/series", params=params).json()
                assert [s["device"] for s in series["series"]] == ["hm-tb-1"], who
                table = client.get(f"/sites/{SITE}/series", params={**params, "format": "csv"}).text
                assert {row["device"] for row in csv.DictReader(io.StringIO(table))} == {"hm-tb-1"}, who
                site_energy = client.get(f"/sites/{SITE}/energy", params={"every": "day"}).json()
                assert site_energy["buckets"] == [], who
                emissions = client.get(f"/sites/{SITE}/emissions", params={"every": "day"}).json()
                assert emissions["buckets"] == [], who
                device = client.get("/devices/hm-tb-1/latest").json()
                assert device["reading"]["fields"]["power_kw"] == 50.0, who
                overview = client.get("/network/overview").json()
                # Operators' network-wide view is where unassigned devices are seen (to assign them).
                assert overview["devices_reporting"] == (2 if who == "operator" else 1), who
