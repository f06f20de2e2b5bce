"""End-to-end ingest throughput (QoS 1, ack after write) next to bare MQTT clients' drain rates.

    uv run python -m bench.bench_ingest [--readings 200000] [--devices 10000] [--batch-size 5000]
                                        [--per-message 1]

Every consumer drains the same QoS 1 messages, queued on its own persistent session
beforehand, from the same Mosquitto, in the same run:
- paho:     a bare paho-mqtt client that acknowledges each message as it arrives, nothing else;
- consumer: ingest.mqtt.MqttConsumer (the project's hand-written asyncio client), acking each
            socket read's messages with one ``ack_many``, nothing else;
- ingest:   ``python -m ingest`` (parse, normalise, derive, line protocol, POST to InfluxDB, ack after 2xx).
``--per-message N`` publishes native v1 arrays of N readings of one device per message instead
of single readings; readings/s then counts readings, and messages/s is shown next to it.
Then the stored point count is checked against the published readings, and the ingest
process's peak RSS is reported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import (
    BenchFailure,
    IngestProcess,
    command_line,
    create_session,
    expect_stored,
    heat_fleet,
    local_stack,
    on_this_machine,
    wait_acked,
)
from energy_core.schema import Message
from ingest.mqtt import AckToken, MqttConsumer
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher

PUBLISH_WINDOW = 1000  # paho slows down quadratically with larger in-flight windows


@dataclass(frozen=True)
class IngestResult:
    """One run's figures; every rate counts readings/s (``messages_per_s`` converts)."""

    readings: int
    devices: int
    batch_size: int
    publish_rate: float  # preload, readings/s
    bare_rate: float  # bare paho drain, readings/s
    ingest_rate: float  # ingest end to end, readings/s
    peak_rss_mb: float
    stored: int
    batches: int  # batches ingest committed
    batch_write_s: float  # total seconds ingest spent making batches durable (InfluxDB + history)
    consumer_rate: float  # bare MqttConsumer drain (one ack_many per socket read), readings/s
    messages: int  # MQTT messages the readings travelled in
    per_message: int  # readings per message (1: single objects; N: v1 arrays)

    def messages_per_s(self, readings_per_s: float) -> float:
        """A readings/s figure of this run as MQTT messages/s."""
        return readings_per_s * self.messages / self.readings


def publish(mqtt_url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish ``messages`` at QoS 1 as fast as the broker acknowledges them; returns msg/s."""
    started = time.perf_counter()
    with Publisher(mqtt_url, window=PUBLISH_WINDOW) as publisher:
        publisher.publish_many(messages)
    return len(messages) / (time.perf_counter() - started)


def preload_fleet(
    mqtt_url: str, prefix: str, fleet: list[HeatMeter], readings: int, start_s: float, step_s: float
) -> float:
    """Publish ``readings`` native v1 messages round-robin over ``fleet`` (QoS 1); returns msg/s."""
    return publish(mqtt_url, list(native_stream(fleet, start_s, step_s, readings, prefix=prefix)))


def in_arrays(stream: Iterable[tuple[str, bytes]], per_message: int) -> list[tuple[str, bytes]]:
    """Regroup single native v1 readings into v1 arrays of ``per_message`` readings per device.

    A device's last array may be shorter; arrays go out in the order they fill up.
    """
    pending: dict[str, list[object]] = {}
    messages: list[tuple[str, bytes]] = []
    for topic, payload in stream:
        batch = pending.setdefault(topic, [])
        batch.append(orjson.loads(payload))
        if len(batch) == per_message:
            messages.append((topic, orjson.dumps(pending.pop(topic))))
    messages.extend((topic, orjson.dumps(batch)) for topic, batch in pending.items())
    return messages


def fleet_messages(prefix: str, readings: int, devices: int, per_message: int) -> list[tuple[str, bytes]]:
    """``readings`` heat-meter readings of ``devices`` meters, a minute apart, 30 days ago."""
    fleet = heat_fleet(devices)
    stream = native_stream(fleet, time.time() - 30 * 86400, 60.0, readings, prefix=prefix)
    return list(stream) if per_message == 1 else in_arrays(stream, per_message)


def bare_drain(port: int, client_id: str, expected: int, timeout_s: float = 300.0) -> float:
    """Messages/s for a bare paho client draining its persistent session (auto ack)."""
    received = 0
    first = 0.0

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal received, first
        if received == 0:
            first = time.perf_counter()
        received += 1

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 65535
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    deadline = time.monotonic() + timeout_s
    while received < expected and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    elapsed = time.perf_counter() - first
    client.disconnect()
    if received != expected:
        raise BenchFailure(f"bare client received {received:,} of {expected:,} queued messages")
    return received / elapsed


async def consumer_drain(
    mqtt_url: str, client_id: str, topic_filter: str, expected: int, timeout_s: float = 300.0
) -> float:
    """Messages/s for MqttConsumer draining its persistent session, one ack_many per socket read."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tokens: list[AckToken] = []
    received = 0
    first = last = 0.0

    def flush() -> None:  # call_soon: runs after the data_received call that delivered the messages
        consumer.ack_many(tokens)
        tokens.clear()

    def on_message(_message: Message, token: AckToken | None) -> None:
        nonlocal received, first, last
        if received == 0:
            first = time.perf_counter()
        received += 1
        if token is not None:
            if not tokens:
                loop.call_soon(flush)
            tokens.append(token)
        if received == expected:
            last = time.perf_counter()
            done.set()

    # The bench process's only structlog user: drop MqttConsumer's per-connection info lines from
    # the printed table, keep warnings (a reconnect would make the figure meaningless).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    consumer = MqttConsumer(mqtt_url, client_id, [topic_filter], on_message)
    task = asyncio.create_task(consumer.run(), name="bench-consumer")
    try:
        async with asyncio.timeout(timeout_s):
            await done.wait()
    except TimeoutError:
        raise BenchFailure(f"MqttConsumer received {received:,} of {expected:,} queued messages") from None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return received / (last - first)


def measure(
    readings: int = 200_000,
    devices: int = 10_000,
    batch_size: int = 5000,
    per_message: int = 1,
    energy: str = "live",
) -> IngestResult:
    """Preload, drain with each bare client, drain with ingest, check the stored count.

    ``energy`` is ingest's INGEST_ENERGY: ``live`` also derives interval energy and emissions
    (about 2.7 points per heat reading), ``off`` writes the readings only (the scale-out setup).
    """
    if per_message < 1:
        raise ValueError("per_message must be at least 1")
    with local_stack("ingest") as stack:
        prefix = db = "bench"
        topic_filter = f"{prefix}/v1/+"
        for client_id in ("bench-bare", "bench-consumer", "bench-ingest"):
            create_session(stack.mqtt_port, client_id, topic_filter)
        messages = fleet_messages(prefix, readings, devices, per_message)
        per_reading = len(messages) / readings  # message rates × 1/this = reading rates
        publish_rate = publish(stack.mqtt_url, messages) / per_reading
        bare_rate = bare_drain(stack.mqtt_port, "bench-bare", len(messages)) / per_reading
        consumer_rate = (
            asyncio.run(consumer_drain(stack.mqtt_url, "bench-consumer", topic_filter, len(messages)))
            / per_reading
        )
        ingest = IngestProcess(
            stack,
            prefix=prefix,
            db=db,
            client_id="bench-ingest",
            ingest_unknown_devices="accept",
            ingest_batch_size=str(batch_size),
            ingest_energy=energy,
        )
        try:
            first, done = wait_acked([ingest], len(messages))  # ingest counts messages
            rss = ingest.peak_rss_mb()
            sample = ingest.metrics()
        finally:
            ingest.stop()
        stored = expect_stored(stack.influx_url, db, readings, "ingest throughput")
    return IngestResult(
        readings,
        devices,
        batch_size,
        publish_rate,
        bare_rate,
        readings / (done - first),
        rss,
        stored,
        int(sample.get("ingest_batch_write_seconds_count", 0)),
        sample.get("ingest_batch_write_seconds_sum", 0.0),
        consumer_rate,
        len(messages),
        per_message,
    )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--per-message", type=int, default=1, help="readings per MQTT message (native v1 arrays when > 1)"
    )
    parser.add_argument(
        "--energy",
        choices=["live", "off"],
        default="live",
        help="ingest's INGEST_ENERGY: live derives energy and emissions too, off writes readings only",
    )
    args = parser.parse_args()
    if args.per_message < 1:
        parser.error("--per-message must be at least 1")
    with on_this_machine():
        r = measure(args.readings, args.devices, args.batch_size, args.per_message, args.energy)
    print(
        f"readings: {r.readings:,} from {r.devices:,} devices in {r.messages:,} messages"
        f" ({r.per_message} per message), QoS 1, batch {r.batch_size}, INGEST_ENERGY={args.energy}"
    )
    print(f"{'what':<46}{'messages/s':>12}{'readings/s':>12}")
    rows = [
        ("publisher (preload, QoS 1)", r.publish_rate),
        ("bare paho client drain (baseline)", r.bare_rate),
        ("bare MqttConsumer drain (ack_many per read)", r.consumer_rate),
        ("ingest end-to-end (ack after InfluxDB 2xx)", r.ingest_rate),
    ]
    for what, rate in rows:
        print(f"{what:<46}{r.messages_per_s(rate):>12,.0f}{rate:>12,.0f}")
    print(
        f"ingest / paho: {r.ingest_rate / r.bare_rate:.0%}   ingest / MqttConsumer:"
        f" {r.ingest_rate / r.consumer_rate:.0%}   peak RSS: {r.peak_rss_mb:.0f} MB   stored: {r.stored:,}"
    )
    print(
        f"{r.batches} batches, {r.batch_write_s:.1f} s spent committing them"
        f" ({r.batch_write_s / max(1, r.batches) * 1000:.0f} ms each; up to two in flight at a time)"
    )


if __name__ == "__main__":
    main()
