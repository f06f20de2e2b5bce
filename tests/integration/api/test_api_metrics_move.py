"""Every metric the API declares (api/metrics.py) moves in a representative run over a real uvicorn and
InfluxDB: requests answered 200 and 404, a live stream opened, polled and closed, and a client that
stops reading dropped. A metric that cannot move in such a run would be listed in ``CANNOT_MOVE_HERE``
with the reason and the test that moves it (none today).

(Ingest's declared metrics: tests/integration/test_durability.py::
test_every_declared_ingest_metric_moves_through_a_scenario; the energy follower's:
tests/integration/test_follower_metrics_move.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import ApiMetrics
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from tests.integration.api.conftest import heat_point, make_settings, write_world_files
from tests.integration.api.test_api_stream import events, served

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, str, tuple[tuple[str, str], ...]], float]

CANNOT_MOVE_HERE: set[str] = set()
BACKLOG_POINTS = 20_000  # ~6 MB of reading events: far more than the socket buffers on both sides hold


def samples_of(exposition: str) -> Samples:
    """Every sample of a /metrics text by (family, sample name, labels); ``*_created`` left out."""
    return {
        (family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def declared_families() -> set[str]:
    return {family.name for family in ApiMetrics().registry.collect()}


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return samples_of(response.text)


def value(samples: Samples, name: str) -> float:
    return next((v for (_, sample, _), v in samples.items() if sample == name), 0.0)


@contextlib.asynccontextmanager
async def not_reading(url: str, path: str):
    """A GET over a socket with a small receive buffer, from which nothing is ever read."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
        sock.setblocking(False)
        await loop.sock_connect(sock, (parts.hostname, parts.port))
        await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        yield
    finally:
        sock.close()


async def until(check, deadline_s: float = 60.0) -> None:
    """Poll an async check until it holds (no timing assertion: only a deadline)."""
    async with asyncio.timeout(deadline_s):
        while not await check():  # noqa: ASYNC110 (the checks poll HTTP: no event to wait on)
            await asyncio.sleep(0.05)


async def test_every_declared_api_metric_moves_through_requests_and_a_live_stream(
    services, isolated, tmp_path
):
    keys = write_world_files(tmp_path)
    settings = make_settings(services, isolated.db, tmp_path)
    async with InfluxClient(services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        await influx.write(
            encode_batch([heat_point("hm-tb-1", time.time_ns() - 2 * 10**9, 100.0, 90.0, 45.0)])
        )
        async with served(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            baseline = samples_of((await client.get("/metrics")).text)
            snapshots: list[Samples] = []
            tb = {"X-API-Key": keys["tunabyggen"]}
            assert (await client.get("/sites/tb-1/latest", headers=tb)).status_code == 200
            assert (await client.get("/sites/ot-1/latest", headers=tb)).status_code == 404
            snapshots.append(await scrape(client))

            opened = asyncio.Event()

            async def read_stream() -> None:
                async with client.stream("GET", "/stream", params={"key": keys["operator"]}) as response:
                    assert response.status_code == 200
                    async for event, _, _ in events(response):
                        if event == "overview":
                            opened.set()

            reader = asyncio.create_task(read_stream(), name="stream-reader")
            try:
                async with asyncio.timeout(60):
                    await opened.wait()

                async def polled_while_open() -> bool:
                    now = await scrape(client)
                    snapshots.append(now)
                    return value(now, "api_streams_open") == 1 and value(now, "api_stream_polls_total") >= 1

                await until(polled_while_open)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

            async def closed() -> bool:
                now = await scrape(client)
                snapshots.append(now)
                return value(now, "api_streams_open") == 0

            await until(closed)

            # A client that stops reading: the backlog of its first tick (the last minute's points)
            # fills the socket buffers, then polls queue up until the feed drops it.
            now_ns = time.time_ns()
            devices = ("hm-tb-1", "hm-tb-2", "hm-ot-1", "hm-sub-1")
            backlog = [
                heat_point(devices[i % 4], now_ns - 30 * 10**9 + i * 1000, 100.0, 90.0, 45.0)
                for i in range(BACKLOG_POINTS)
            ]
            await influx.write(encode_batch(backlog))
            async with not_reading(url, f"/stream?key={keys['operator']}"):

                async def dropped() -> bool:
                    now = await scrape(client)
                    snapshots.append(now)
                    return value(now, "api_streams_dropped_total") == 1

                await until(dropped, deadline_s=120)
            await until(closed)

    declared = declared_families()
    assert declared >= CANNOT_MOVE_HERE, "an exemption names a metric the API no longer declares"
    moved = {key[0] for snapshot in snapshots for key, v in snapshot.items() if v != baseline.get(key)}
    assert declared - moved == CANNOT_MOVE_HERE, "declared metrics that never moved"
    assert value(snapshots[-1], "api_stream_influx_queries_total") >= value(
        snapshots[-1], "api_stream_polls_total"
    )
