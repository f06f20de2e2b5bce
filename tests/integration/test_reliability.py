"""Ingest's promise to operators: nothing published is lost or duplicated, nothing bad is dropped.

Each test runs a stream through real Mosquitto and InfluxDB and breaks something in the middle.
Writes are idempotent (series + timestamp), so "exactly once" is checked as: the stored point
count and the sum of the stored register values equal what was published.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from energy_testing import services as local_services
from energy_testing.world import Isolation, Services, as_number
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher
from tests.helpers import IngestProcess, eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration


def heat_stream(prefix: str, n: int, meters: int = 50) -> list[tuple[str, bytes]]:
    fleet = [HeatMeter(f"hm-{i:03d}", design_load_kw=80 + i) for i in range(meters)]
    return list(native_stream(fleet, time.time() - 86400, 10.0, n, prefix=prefix))


def expected_energy_sum(messages: list[tuple[str, bytes]]) -> float:
    return sum(orjson.loads(payload)["values"]["energy"] for _, payload in messages)


def stored(isolated: Isolation) -> tuple[int, float]:
    rows = isolated.query('SELECT count("energy_kwh"), sum("energy_kwh") FROM "district_heating"')
    return (int(as_number(rows[0][1])), as_number(rows[0][2])) if rows else (0, 0.0)


async def publish_in_background(
    mqtt_url: str, messages: list[tuple[str, bytes]], rate: float
) -> asyncio.Task[int]:
    def publish() -> int:
        with Publisher(mqtt_url, client_id=f"pub-{time.monotonic_ns()}", persistent=True) as publisher:
            return publisher.publish_many(messages, rate=rate)

    return asyncio.create_task(asyncio.to_thread(publish), name="publisher")


async def assert_exactly(isolated: Isolation, messages: list[tuple[str, bytes]]) -> None:
    n, total = len(messages), expected_energy_sum(messages)
    done = await eventually(lambda: stored(isolated)[0] >= n, deadline_s=120)
    count, energy_sum = stored(isolated)
    assert done, f"only {count} of {n} readings stored"
    assert count == n
    assert energy_sum == pytest.approx(total, rel=1e-9)


async def test_kill_9_mid_stream_then_restart_stores_every_reading_exactly_once(isolated, tmp_path):
    messages = heat_stream(isolated.prefix, 20_000)
    ingest = IngestProcess(IngestProcess.env_for(isolated, tmp_path / "ingest"), tmp_path / "ingest.log")
    try:
        ingest.start()
        await ingest.wait_subscribed()
        publishing = await publish_in_background(isolated.services.mqtt_url, messages, rate=4000)

        partly = await eventually(lambda: stored(isolated)[0] >= 4000, deadline_s=60)
        assert partly, "the stream never got going"
        ingest.kill9()
        at_kill = stored(isolated)[0]
        assert at_kill < len(messages), "the kill must land mid-stream"

        ingest.start()
        await ingest.wait_subscribed()
        assert await publishing == len(messages)
        await assert_exactly(isolated, messages)
        assert ingest.terminate() == 0
    finally:
        ingest.stop()


async def test_influxdb_down_for_a_minute_spools_then_drains_in_order_without_loss(isolated, tmp_path):
    influx_dir = tmp_path / "influx"
    influx, proc = local_services.start_influxd(influx_dir)
    port = influx.port
    outage_s = 60
    messages = heat_stream(isolated.prefix, 200 * (outage_s + 20))  # ~ (outage + 20) s at 200 msg/s
    settings = ingest_settings(isolated, tmp_path / "ingest", influx_url=influx.url)
    tracker = Isolation(
        isolated.prefix, isolated.db, Services(isolated.services.mqtt_url, influx.url, tmp_path)
    )
    try:
        async with running_ingest(settings) as service:
            publishing = await publish_in_background(isolated.services.mqtt_url, messages, rate=200)
            assert await eventually(lambda: stored(tracker)[0] >= 1000, deadline_s=60)
            local_services.stop_pid(proc.pid)
            outage_ends = time.monotonic() + outage_s
            spooling = await eventually(lambda: service.spool.batches > 0, deadline_s=outage_s + 60)
            assert spooling, "nothing was spooled while InfluxDB was down"
            # The outage itself is what this test is about: it lasts at least outage_s.
            await asyncio.sleep(max(0.0, outage_ends - time.monotonic()))
            spooled = sample(service, "ingest_points_spooled_total")
            influx, proc = local_services.start_influxd(influx_dir, port)
            assert await publishing == len(messages)
            await assert_exactly(tracker, messages)
            assert await eventually(lambda: service.spool.empty, deadline_s=60)
            assert spooled > 0
            assert sample(service, "ingest_spool_bytes") == 0
    finally:
        local_services.stop_pid(proc.pid)


async def test_broker_restart_mid_stream_loses_nothing(isolated, tmp_path):
    broker_dir = tmp_path / "mosquitto"
    broker, proc = local_services.start_mosquitto(broker_dir)
    messages = heat_stream(isolated.prefix, 10_000)
    settings = ingest_settings(isolated, tmp_path / "ingest", mqtt_url=broker.url)
    try:
        async with running_ingest(settings) as service:
            publishing = await publish_in_background(broker.url, messages, rate=2000)
            assert await eventually(lambda: stored(isolated)[0] >= 2000, deadline_s=60)
            local_services.stop_pid(proc.pid)  # SIGTERM: Mosquitto saves its persistence file
            broker, proc = local_services.start_mosquitto(broker_dir, broker.port)
            assert await publishing == len(messages)
            await assert_exactly(isolated, messages)
            assert service.consumer.generation >= 2, "the consumer should have reconnected"
    finally:
        local_services.stop_pid(proc.pid)


async def test_two_consumers_in_one_shared_group_split_the_stream_exactly_once(isolated, tmp_path):
    messages = heat_stream(isolated.prefix, 6000)
    # As deployed at scale: energy comes from the single follower, not from the replicas.
    group = {"ingest_shared_group": "g1", "ingest_energy": "off"}
    first = ingest_settings(isolated, tmp_path / "a", ingest_client_id=f"a-{isolated.db}", **group)
    second = ingest_settings(isolated, tmp_path / "b", ingest_client_id=f"b-{isolated.db}", **group)
    async with running_ingest(first) as a, running_ingest(second) as b:
        publishing = await publish_in_background(isolated.services.mqtt_url, messages, rate=3000)
        assert await publishing == len(messages)
        await assert_exactly(isolated, messages)
        acked = await eventually(
            lambda: (
                sample(a, "ingest_messages_acked_total") + sample(b, "ingest_messages_acked_total")
                >= len(messages)
            )
        )
        assert acked
        assert sample(a, "ingest_messages_acked_total") > 0
        assert sample(b, "ingest_messages_acked_total") > 0
        assert sample(a, "ingest_messages_acked_total") + sample(b, "ingest_messages_acked_total") == len(
            messages
        )


async def test_sigterm_flushes_acks_and_exits_cleanly(isolated, tmp_path):
    messages = heat_stream(isolated.prefix, 3000)
    ingest = IngestProcess(IngestProcess.env_for(isolated, tmp_path / "ingest"), tmp_path / "ingest.log")
    try:
        ingest.start()
        await ingest.wait_subscribed()
        publishing = await publish_in_background(isolated.services.mqtt_url, messages, rate=3000)
        assert await eventually(lambda: stored(isolated)[0] >= 500)
        assert ingest.terminate(deadline_s=30) == 0
        assert '"shutdown_complete"' in ingest.log_text()
        ingest.start()
        await ingest.wait_subscribed()
        await publishing
        await assert_exactly(isolated, messages)
        assert ingest.terminate() == 0
    finally:
        ingest.stop()


async def test_messages_are_not_acked_until_durable(isolated, tmp_path: Path):
    """With InfluxDB unreachable and a spool too small for one batch, nothing may be acked;
    a later consumer on the same session then receives and stores every message."""
    messages = heat_stream(isolated.prefix, 400)
    dead_influx = f"http://127.0.0.1:{local_services.free_port()}"
    stuck = ingest_settings(
        isolated,
        tmp_path / "stuck",
        influx_url=dead_influx,
        ingest_spool_max_bytes=4096,
        ingest_shutdown_timeout_s=2.0,
    )
    with capture_logs() as logs:
        async with running_ingest(stuck) as service:
            with Publisher(isolated.services.mqtt_url) as publisher:
                await asyncio.to_thread(publisher.publish_many, messages)
            assert await eventually(
                lambda: sample(service, "ingest_messages_received_total") >= len(messages)
            )
            assert await eventually(lambda: any(e["event"] == "spool_full_backpressure" for e in logs))
            assert sample(service, "ingest_messages_acked_total") == 0
            assert service.spool.bytes <= 4096
    assert any(e["event"] == "shutdown_timeout_unacked_messages_will_be_redelivered" for e in logs)
    healthy = ingest_settings(isolated, tmp_path / "healthy")
    async with running_ingest(healthy):
        await assert_exactly(isolated, messages)


async def test_a_backlog_is_committed_in_bounded_batches_with_reading_paused_between(isolated, tmp_path):
    """With a backlog queued on the session, reading pauses while a batch commits instead of
    letting the next batch grow to the broker's whole in-flight window."""
    messages = heat_stream(isolated.prefix, 6000)
    settings = ingest_settings(isolated, tmp_path, ingest_batch_size=200)
    async with running_ingest(settings):
        pass  # creates the persistent session, subscribed
    with Publisher(isolated.services.mqtt_url) as publisher:
        await asyncio.to_thread(publisher.publish_many, messages)

    async with running_ingest(settings) as service:
        await assert_exactly(isolated, messages)
        assert sample(service, "ingest_backpressure_pauses_total") > 0
        assert await eventually(lambda: sample(service, "ingest_batch_messages_sum") >= len(messages)), (
            "not every message was committed in a batch"
        )
        batches = sample(service, "ingest_batch_messages_count")
        committed = sample(service, "ingest_batch_messages_sum")
        at_most_500 = sample(service, "ingest_batch_messages_bucket", le="500.0")
    assert committed == len(messages)
    # Reading pauses at the message that fills a batch: none may grow past it by what one socket
    # read carried (at most ~64 KiB of messages, ~600 here), let alone to the broker's window.
    assert batches >= len(messages) / 500
    assert at_most_500 == batches, f"{batches - at_most_500:g} of {batches:g} batches held over 500 messages"
