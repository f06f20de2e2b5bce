"""The sink on its own, against the real InfluxDB: bisection to the refused lines, spooling, draining."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from energy_core.deadletters import DeadLetterStore
from energy_core.errors import Reason
from energy_core.influx import InfluxClient
from energy_core.schema import Message
from energy_testing import services as local_services
from energy_testing.world import Isolation, as_number
from ingest.metrics import IngestMetrics
from ingest.problems import Problems
from ingest.sink import Sink
from ingest.spool import Spool
from tests.helpers import eventually

pytestmark = pytest.mark.integration

T0_NS = (int(time.time()) - 3600) * 1_000_000_000  # an hour ago: within the dead letters' age bound


@dataclass
class Parts:
    spool: Spool
    dead_letters: DeadLetterStore
    metrics: IngestMetrics = field(default_factory=IngestMetrics)
    written: list[list[str]] = field(default_factory=list)

    async def on_written(self, lines: list[str]) -> None:
        self.written.append(list(lines))


@contextlib.asynccontextmanager
async def stores(data_dir: Path) -> AsyncIterator[Parts]:
    with (
        contextlib.closing(Spool(data_dir / "spool.sqlite", 1 << 20)) as spool,
        contextlib.closing(DeadLetterStore(data_dir / "dead_letters.sqlite")) as dead_letters,
    ):
        yield Parts(spool, dead_letters)


@contextlib.asynccontextmanager
async def sink_to(url: str, db: str, parts: Parts) -> AsyncIterator[Sink]:
    async with InfluxClient(url, db, timeout_s=5.0) as influx:
        problems = Problems(parts.metrics)
        yield Sink(
            influx, parts.spool, parts.dead_letters, parts.metrics, problems, on_written=[parts.on_written]
        )


def batch(isolated: Isolation) -> tuple[list[str], list[Message], list[int]]:
    """Twelve lines, each from its own message; lines 3 and 8 are ones InfluxDB refuses (400)."""
    lines, origins = [], []
    for i in range(12):
        lines.append(f"sink_test,device=d{i} value={i}.5 {T0_NS + i}")
        origins.append(Message(f"{isolated.prefix}/v1/d{i}", f"payload {i}".encode(), T0_NS + i))
    lines[3] = "sink_test,device=d3 value=this-is-not-a-number"  # unparseable
    lines[8] = f'sink_test,device=d8 value="a string" {T0_NS + 8}'  # field type conflict with the floats
    return lines, origins, [3, 8]


def stored_devices(isolated: Isolation) -> list[str]:
    rows = isolated.query('SELECT "value", "device" FROM "sink_test"')
    return sorted(str(row[2]) for row in rows)


def count(isolated: Isolation) -> int:
    rows = isolated.query('SELECT count("value") FROM "sink_test"')
    return int(as_number(rows[0][1])) if rows else 0


async def test_a_batch_with_refused_lines_is_bisected_so_only_those_are_dead_lettered(
    isolated: Isolation, tmp_path: Path
) -> None:
    lines, origins, bad = batch(isolated)
    async with stores(tmp_path) as parts, sink_to(isolated.services.influx_url, isolated.db, parts) as sink:
        # A first point fixes the field's type as float, so that line 8's string conflicts with it.
        await sink.write_precisely([f"sink_test,device=d0 value=0.5 {T0_NS}"], None)
        letters = await sink.store(lines, origins)
        assert parts.spool.empty

    assert [(letter.topic, letter.payload) for letter in letters] == [
        (origins[i].topic, origins[i].payload) for i in bad
    ]
    assert all(letter.reason is Reason.REJECTED_BY_DB for letter in letters)
    assert all(lines[i][:40] in letter.detail for i, letter in zip(bad, letters, strict=True))
    good = [line for i, line in enumerate(lines) if i not in bad]
    assert parts.written[1:] == [good]  # told exactly the lines InfluxDB took, once
    assert stored_devices(isolated) == sorted(f"d{i}" for i in range(12) if i not in bad)
    assert parts.metrics.registry.get_sample_value("ingest_points_written_total") == len(good)
    assert parts.metrics.registry.get_sample_value("ingest_influx_up") == 1


async def test_a_batch_spooled_while_influxdb_is_away_drains_in_and_dead_letters_its_refused_lines(
    isolated: Isolation, tmp_path: Path
) -> None:
    lines, origins, bad = batch(isolated)
    away = f"http://127.0.0.1:{local_services.free_port()}"
    async with stores(tmp_path) as parts:
        async with sink_to(away, isolated.db, parts) as sink:
            assert await sink.store(lines, origins) == []
            assert sink.problems.reasons()[0].startswith("influx: unavailable")
        assert parts.spool.batches == 1
        assert parts.dead_letters.counts() == {}
        assert parts.written == []

        async with sink_to(isolated.services.influx_url, isolated.db, parts) as sink:
            await sink.write_precisely([f"sink_test,device=d0 value=0.5 {T0_NS}"], None)
            async with running(sink.drain()):
                assert await eventually(lambda: parts.spool.empty)
            assert sink.problems.reasons() == []
        letters = parts.dead_letters.list()
    assert sorted((letter.topic, letter.payload) for letter in letters) == sorted(
        (origins[i].topic, origins[i].payload) for i in bad
    )
    assert parts.written[1:] == [[line for i, line in enumerate(lines) if i not in bad]]
    assert count(isolated) == len(lines) - len(bad)


async def test_a_write_refused_for_a_reason_not_about_the_points_is_spooled_never_dead_lettered(
    isolated: Isolation, tmp_path: Path
) -> None:
    """A 404 that is not "database not found" (here: a URL that is not InfluxDB's API) says nothing
    about the points: bisecting would dead-letter every one of them."""
    lines, origins, _ = batch(isolated)
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        await influx.ensure_database()  # the database is there: the refusal is about the URL
    wrong_path = f"{isolated.services.influx_url}/not-the-api"
    async with stores(tmp_path) as parts, sink_to(wrong_path, isolated.db, parts) as sink:
        assert await sink.store(lines, origins) == []
        assert parts.spool.batches == 1
        assert parts.dead_letters.counts() == {}
        [reason] = sink.problems.reasons()
        assert reason.startswith("influx: refused writes (404)")
        assert parts.metrics.registry.get_sample_value("ingest_influx_up") == 0
        assert parts.metrics.registry.get_sample_value("ingest_points_spooled_total") == len(lines)
    assert count(isolated) == 0


# -- helpers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(coroutine: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(coroutine, name="under-test")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
