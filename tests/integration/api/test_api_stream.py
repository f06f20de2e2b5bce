"""The SSE stream over a real uvicorn socket: overview and reading events, scope, resume."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import uvicorn

from api.app import create_app
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from tests.integration.api.conftest import heat_point, make_settings, write_world_files

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def served(settings) -> AsyncIterator[str]:
    """uvicorn as a task in this test's event loop, on a free port."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve(), name="uvicorn-under-test")
    try:
        async with asyncio.timeout(30):
            # uvicorn exposes only a flag for "listening", no event to await
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str, dict]]:
    """Parse text/event-stream into (event, id, data) tuples."""
    event, ident, data = "message", "", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, ident, orjson.loads("\n".join(data))
            event, ident, data = "message", "", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            ident = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


@pytest.fixture
async def stream_world(services, isolated, tmp_path):
    keys = write_world_files(tmp_path)
    settings = make_settings(services, isolated.db, tmp_path)
    async with InfluxClient(services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        now = time.time_ns()
        await influx.write(encode_batch([heat_point(d, now - 2 * 10**9, 100.0, 90.0, 45.0)
                                         for d in ("hm-tb-1", "hm-ot-1")]))  # fmt: skip
        async with served(settings) as url:
            yield url, keys, influx


async def test_stream_sends_the_overview_and_new_readings_of_the_scope_only(stream_world):
    url, keys, influx = stream_world
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/stream", params={"key": keys["tunabyggen"]}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen_devices: set[str] = set()
        new_power_seen = False
        overview = None
        async with asyncio.timeout(30):
            async for event, _, data in events(response):
                if event == "overview":
                    overview = data
                    if not seen_devices:
                        # the first poll happens before our new point: now write it
                        now = time.time_ns()
                        new = [heat_point("hm-tb-1", now, 321.0, 91.0, 44.0),
                               heat_point("hm-ot-1", now, 999.0, 91.0, 44.0)]  # fmt: skip
                        await influx.write(encode_batch(new))
                        seen_devices.add("")
                elif event == "reading":
                    seen_devices.add(data["device"])
                    if data["fields"].get("power_kw") == 321.0:
                        new_power_seen = True
                if new_power_seen and overview and overview["total_heat_load_mw"] == pytest.approx(0.321):
                    break
    assert new_power_seen
    assert "hm-ot-1" not in seen_devices  # another owner's meter never reaches a tunabyggen stream
    assert overview["devices_registered"] == 2


async def test_stream_refuses_bad_keys_and_other_owners_sites_before_streaming(stream_world):
    url, keys, _ = stream_world
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/stream")).status_code == 401
        assert (await client.get("/stream", params={"key": "wrong"})).status_code == 401
        r = await client.get("/stream", params={"key": keys["tunabyggen"], "site": "ot-1"})
        assert r.status_code == 404
        assert r.json()["error"] == "unknown_site"


async def test_stream_resumes_after_last_event_id_without_repeating(stream_world):
    url, keys, _ = stream_world
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with client.stream("GET", "/stream", params={"key": keys["operator"]}) as response:
            async with asyncio.timeout(30):
                async for event, ident, data in events(response):
                    if event == "reading":
                        last_id, first = ident, data
                        break
        # Both points were in the first stream's first poll; the resumed stream must not repeat the
        # one at or before the cursor, over two polls.
        headers = {"Last-Event-ID": last_id}
        repeated, overviews = [], 0
        async with client.stream(
            "GET", "/stream", params={"key": keys["operator"]}, headers=headers
        ) as again:
            async with asyncio.timeout(30):
                async for event, ident, data in events(again):
                    if event == "overview":
                        overviews += 1
                        assert ident == last_id  # nothing new: the cursor stays where the client was
                        if overviews == 2:
                            break
                    elif event == "reading" and int(ident) <= int(last_id):
                        repeated.append(data)
    assert first["device"] in {"hm-tb-1", "hm-ot-1"}
    assert repeated == []
