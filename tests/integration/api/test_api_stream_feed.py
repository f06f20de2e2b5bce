"""The shared live feed over a real uvicorn and InfluxDB: one poll serves every stream, a cap per
key, a cursor that keeps up with a fast measurement, and bounded, validated resumes (issue 12)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import httpx
import orjson
import pytest

from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from tests.integration.api.conftest import heat_point, make_settings, write_world_files
from tests.integration.api.test_api_stream import events, served

pytestmark = pytest.mark.integration

STREAMS_PER_KEY = 4


@pytest.fixture
async def feed_world(services, isolated, tmp_path):
    keys = write_world_files(tmp_path)
    settings = make_settings(services, isolated.db, tmp_path, api_streams_per_key=STREAMS_PER_KEY)
    async with InfluxClient(services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        now = time.time_ns()
        await influx.write(encode_batch([heat_point(d, now - 2 * 10**9, 100.0, 90.0, 45.0)
                                         for d in ("hm-tb-1", "hm-ot-1")]))  # fmt: skip
        async with served(settings) as url:
            yield url, keys, influx


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def scrape(client: httpx.AsyncClient) -> tuple[float, float, float]:
    text = (await client.get("/metrics")).text
    return (
        metric(text, "api_stream_polls_total"),
        metric(text, "api_stream_influx_queries_total"),
        metric(text, "api_streams_open"),
    )


class OpenStream:
    """A stream read in a task of its own, recording what arrives."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client = client
        self.key = key
        self.overviews = 0
        self.devices: set[str] = set()
        self.opened = asyncio.Event()
        self.task = asyncio.create_task(self._read(), name=f"stream-{key[:6]}")

    async def _read(self) -> None:
        async with self.client.stream("GET", "/stream", params={"key": self.key}) as response:
            assert response.status_code == 200
            async for event, _, data in events(response):
                if event == "overview":
                    self.overviews += 1
                    self.opened.set()
                elif event == "reading":
                    self.devices.add(data["device"])

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(check, deadline_s: float = 60.0) -> None:
    """Poll an async check until it holds (no timing assertion: only a deadline)."""
    async with asyncio.timeout(deadline_s):
        while not await check():  # noqa: ASYNC110 (the checks poll HTTP: no event to wait on)
            await asyncio.sleep(0.05)


async def test_twelve_streams_share_one_influxdb_request_per_poll_and_keep_their_scopes(feed_world):
    url, keys, influx = feed_world
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        streams = [
            OpenStream(client, keys[who]) for who in ("operator", "tunabyggen", "stora") for _ in range(4)
        ]
        try:
            async with asyncio.timeout(60):
                for s in streams:
                    await s.opened.wait()
            polls_before, queries_before, open_now = await scrape(client)
            assert open_now == 12
            now = time.time_ns()
            await influx.write(encode_batch([heat_point("hm-tb-1", now, 111.0, 90.0, 45.0),
                                             heat_point("hm-ot-1", now, 222.0, 90.0, 45.0)]))  # fmt: skip

            async def five_more_polls() -> bool:
                return (await scrape(client))[0] >= polls_before + 5

            await until(five_more_polls)
            polls_after, queries_after, _ = await scrape(client)
            # One request per poll, whatever the number of streams (before: two per stream per poll).
            assert queries_after - queries_before == polls_after - polls_before
            assert queries_after == polls_after

            async def all_got_their_points() -> bool:
                return all(s.devices for s in streams)

            await until(all_got_their_points)
        finally:
            for s in streams:
                await s.close()
    operator, tunabyggen, stora = streams[0:4], streams[4:8], streams[8:12]
    assert all(s.devices == {"hm-tb-1", "hm-ot-1"} for s in operator)
    assert all(s.devices == {"hm-tb-1"} for s in tunabyggen)
    assert all(s.devices == {"hm-ot-1"} for s in stora)


async def test_a_key_holds_at_most_its_cap_of_streams_and_gets_429_above_it(feed_world):
    url, keys, _ = feed_world
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        streams = [OpenStream(client, keys["tunabyggen"]) for _ in range(STREAMS_PER_KEY)]
        try:
            async with asyncio.timeout(60):
                for s in streams:
                    await s.opened.wait()
            async with client.stream("GET", "/stream", params={"key": keys["tunabyggen"]}) as refused:
                assert refused.status_code == 429  # checked before reading: a 200 here would stream on
                assert orjson.loads(await refused.aread())["error"] == "too_many_streams"
            # Another key is not affected.
            other = OpenStream(client, keys["stora"])
            async with asyncio.timeout(60):
                await other.opened.wait()
            await other.close()
            # A closed stream gives its place back.
            await streams.pop().close()

            async def admitted() -> bool:
                async with client.stream("GET", "/stream", params={"key": keys["tunabyggen"]}) as r:
                    return r.status_code == 200

            await until(admitted)
        finally:
            for s in streams:
                await s.close()


async def test_a_measurement_written_far_faster_than_1000_points_a_second_is_streamed_whole(feed_world):
    url, keys, influx = feed_world
    total = 12_000  # more than a page of 10,000, all inside one 10 s re-read window: 3,000 points/s
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as client,
        client.stream("GET", "/stream", params={"key": keys["operator"]}) as response,
    ):
        assert response.status_code == 200
        seen: set[float] = set()
        last_id, written = 0, False
        async with asyncio.timeout(600):  # a deadline, not a speed claim: 2 loaded cores can be slow
            async for event, ident, data in events(response):
                assert int(ident) >= last_id  # the cursor never goes back
                last_id = int(ident)
                if event == "overview" and not written:  # subscribed: now the burst
                    start = time.time_ns() - 4 * 10**9
                    burst = [
                        heat_point("hm-sub-1", start + i * 333_000, float(i), 90.0, 45.0)
                        for i in range(total)
                    ]
                    await influx.write(encode_batch(burst))
                    written = True
                elif event == "reading" and data["device"] == "hm-sub-1":
                    seen.add(data["fields"]["power_kw"])
                    if len(seen) == total:
                        break
    assert seen == {float(i) for i in range(total)}


@pytest.mark.parametrize("bad", ["9999999999999999999", "99999999999999999999999999", "abc", "-1", "1.5"])
async def test_a_last_event_id_that_is_not_an_id_in_range_is_a_400(feed_world, bad):
    url, keys, _ = feed_world
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        headers = {"Last-Event-ID": bad}
        async with client.stream("GET", "/stream", params={"key": keys["operator"]}, headers=headers) as r:
            assert r.status_code == 400
            assert orjson.loads(await r.aread())["error"] == "bad_last_event_id"


async def test_last_event_id_1_does_not_replay_the_whole_history(feed_world):
    url, keys, influx = feed_world
    old = time.time_ns() - 2 * 3600 * 10**9  # older than API_STREAM_RESUME_MAX_S (600 s)
    await influx.write(encode_batch([heat_point("hm-tb-1", old, 777.0, 90.0, 45.0)]))
    powers: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream(
            "GET", "/stream", params={"key": keys["operator"]}, headers={"Last-Event-ID": "1"}
        ) as r,
    ):
        assert r.status_code == 200
        overviews_after_recent = 0
        async with asyncio.timeout(60):
            async for event, _, data in events(r):
                if event == "reading":
                    powers.append(data["fields"]["power_kw"])
                elif event == "overview" and 100.0 in powers:
                    overviews_after_recent += 1
                    if overviews_after_recent == 2:
                        break
    assert 100.0 in powers  # the fixture's points of two seconds ago are resumed
    assert 777.0 not in powers


async def test_a_site_stream_shows_only_points_held_to_that_sites_owner(feed_world):
    url, keys, influx = feed_world
    now = time.time_ns()
    # A commissioning-mode device stored under tb-1's id with the owner "unassigned".
    squatter = Point(
        "district_heating",
        (("device", "comm-1"), ("network", "borlange"), ("owner", "unassigned"), ("site", "tb-1")),
        {"power_kw": 555.0, "supply_temp_c": 90.0, "return_temp_c": 45.0},
        now,
    )
    await influx.write(encode_batch([squatter, heat_point("hm-tb-1", now, 444.0, 90.0, 45.0)]))
    powers: list[float] = []
    loads: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/stream", params={"key": keys["operator"], "site": "tb-1"}) as r,
    ):
        assert r.status_code == 200
        async with asyncio.timeout(60):
            async for event, _, data in events(r):
                if event == "reading":
                    powers.append(data["fields"]["power_kw"])
                elif event == "overview" and 444.0 in powers:
                    loads.append(data["total_heat_load_mw"])
                    if len(loads) == 2:
                        break
    assert 555.0 not in powers
    assert loads == [pytest.approx(0.444), pytest.approx(0.444)]  # the squatter is not in the load
