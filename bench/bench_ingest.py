"""End-to-end ingest throughput (QoS 1, ack after write) next to the bare MQTT client's drain rate.

    uv run python bench/bench_ingest.py [--readings 200000] [--devices 10000] [--batch-size 5000]

Both consumers drain the same number of QoS 1 messages that were queued on a persistent
session beforehand, from the same Mosquitto, in the same run:
- baseline: a bare paho-mqtt client that acknowledges each message as it arrives and does nothing else;
- ingest:   ``python -m ingest`` (parse, normalise, derive, line protocol, POST to InfluxDB, ack after 2xx).
Then the stored point count is checked against the published count, and the ingest process's
peak RSS is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    BenchFailure,
    IngestProcess,
    create_session,
    expect_stored,
    load_average,
    local_stack,
    machine,
    wait_acked,
)
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher

PUBLISH_WINDOW = 1000  # paho slows down quadratically with larger in-flight windows


@dataclass(frozen=True)
class IngestResult:
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


def preload_fleet(
    mqtt_url: str, prefix: str, fleet: list[HeatMeter], readings: int, start_s: float, step_s: float
) -> float:
    """Publish ``readings`` native v1 messages round-robin over ``fleet`` (QoS 1); returns msg/s."""
    messages = list(native_stream(fleet, start_s, step_s, readings, prefix=prefix))
    started = time.perf_counter()
    with Publisher(mqtt_url, window=PUBLISH_WINDOW) as publisher:
        publisher.publish_many(messages)
    return readings / (time.perf_counter() - started)


def preload(mqtt_url: str, prefix: str, readings: int, devices: int) -> float:
    """Publish ``readings`` heat-meter readings of ``devices`` meters, a minute apart, 30 days ago."""
    fleet = [HeatMeter(f"hm-{i:05d}", design_load_kw=50 + i % 400) for i in range(devices)]
    return preload_fleet(mqtt_url, prefix, fleet, readings, time.time() - 30 * 86400, 60.0)


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


def measure(readings: int = 200_000, devices: int = 10_000, batch_size: int = 5000) -> IngestResult:
    """Preload, drain with the bare client, drain with ingest, check the stored count."""
    with local_stack("ingest") as stack:
        prefix = db = "bench"
        create_session(stack.mqtt_port, "bench-bare", f"{prefix}/v1/+")
        create_session(stack.mqtt_port, "bench-ingest", f"{prefix}/v1/+")
        publish_rate = preload(stack.mqtt_url, prefix, readings, devices)
        bare_rate = bare_drain(stack.mqtt_port, "bench-bare", readings)
        ingest = IngestProcess(
            stack,
            prefix=prefix,
            db=db,
            client_id="bench-ingest",
            ingest_unknown_devices="accept",
            ingest_batch_size=str(batch_size),
        )
        try:
            first, done = wait_acked([ingest], readings)
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
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}")
    r = measure(args.readings, args.devices, args.batch_size)
    print(f"readings: {r.readings:,} from {r.devices:,} devices, QoS 1, batch {r.batch_size}")
    print(f"{'what':<44}{'readings/s':>12}")
    print(f"{'publisher (preload, QoS 1)':<44}{r.publish_rate:>12,.0f}")
    print(f"{'bare paho client drain (baseline)':<44}{r.bare_rate:>12,.0f}")
    print(f"{'ingest end-to-end (ack after InfluxDB 2xx)':<44}{r.ingest_rate:>12,.0f}")
    print(
        f"ingest / baseline: {r.ingest_rate / r.bare_rate:.0%}   peak RSS: {r.peak_rss_mb:.0f} MB"
        f"   stored: {r.stored:,}"
    )
    print(
        f"{r.batches} batches, {r.batch_write_s:.1f} s spent committing them"
        f" ({r.batch_write_s / max(1, r.batches) * 1000:.0f} ms each; one batch in flight at a time)"
    )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
