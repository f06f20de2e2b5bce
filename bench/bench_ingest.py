"""End-to-end ingest throughput (QoS 1, ack after write) next to bare MQTT clients' drain rates.

    uv run python bench/bench_ingest.py [--readings 200000] [--per-message 10]

Every consumer drains the same QoS 1 messages, queued on its own persistent session
beforehand, from the same Mosquitto, in the same run:
- paho:     a bare paho-mqtt client that acknowledges each message as it arrives, nothing else;
- consumer: ingest.mqtt.MqttConsumer (hand-written asyncio protocol), acking each socket read's
            messages with one ``ack_many``, nothing else;
- ingest:   ``python -m ingest`` (parse, normalise, line protocol, POST to InfluxDB, ack after 2xx).
``--per-message N`` publishes native v1 arrays of N readings per message instead of one.
Then the stored point count is checked, and the ingest process's peak RSS is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, create_session, local_services, machine, peak_rss_mb
from ingest.mqtt import AckToken, MqttConsumer
from ingest.schema import Message
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher


def bench_messages(prefix: str, readings: int, devices: int, per_message: int) -> list[tuple[str, bytes]]:
    """``readings`` native v1 readings, as single objects or as arrays of ``per_message`` per device."""
    fleet = [HeatMeter(f"hm-{i:05d}", design_load_kw=50 + i % 400) for i in range(devices)]
    stream = native_stream(fleet, time.time() - 30 * 86400, 60.0, readings, prefix=prefix)
    if per_message == 1:
        return list(stream)
    pending: dict[str, list[object]] = {}
    messages = []
    for topic, payload in stream:
        batch = pending.setdefault(topic, [])
        batch.append(orjson.loads(payload))
        if len(batch) == per_message:
            messages.append((topic, orjson.dumps(pending.pop(topic))))
    messages.extend((topic, orjson.dumps(batch)) for topic, batch in pending.items())
    return messages


def preload(mqtt_url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish; returns messages/s."""
    started = time.perf_counter()
    # paho walks its whole in-flight table on every PUBACK: a 20,000 window made preloading ~10x slower.
    with Publisher(mqtt_url, window=1000) as publisher:
        publisher.publish_many(messages)
    return len(messages) / (time.perf_counter() - started)


def bare_drain(port: int, client_id: str, expected: int) -> float:
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
    deadline = time.monotonic() + 300
    while received < expected and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    elapsed = time.perf_counter() - first
    client.disconnect()
    return received / elapsed


async def consumer_drain(url: str, client_id: str, topic_filter: str, expected: int) -> float:
    """Messages/s for MqttConsumer draining its persistent session, one ack_many per socket read."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tokens: list[AckToken] = []
    received = 0
    first = last = 0.0

    def flush() -> None:  # runs after the data_received call that delivered the messages
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
        if received >= expected:
            last = time.perf_counter()
            done.set()

    consumer = MqttConsumer(url, client_id, [topic_filter], on_message)
    task = asyncio.create_task(consumer.run(), name="bench-consumer")
    try:
        async with asyncio.timeout(300):
            await done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return received / (last - first)


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def run_ingest(env: dict[str, str], http_port: int, expected: int) -> tuple[float, float, int]:
    """Start ingest, return (readings/s from first receive to last ack, peak RSS MB, pid)."""
    proc = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        first = done = 0.0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                received = metric(http_port, "ingest_messages_received_total")
                acked = metric(http_port, "ingest_messages_acked_total")
            except OSError:
                time.sleep(0.05)
                continue
            now = time.perf_counter()
            if received and not first:
                first = now
            if acked >= expected:
                done = now
                break
            time.sleep(0.02)
        rss = peak_rss_mb(proc.pid)
        return expected / (done - first), rss, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def count_points(influx_url: str, db: str) -> int:
    import json
    from urllib.parse import urlencode

    q = urlencode({"db": db, "q": 'SELECT count("energy_kwh") FROM "district_heating"'})
    with urllib.request.urlopen(f"{influx_url}/query?{q}", timeout=30) as r:  # noqa: S310
        series = json.loads(r.read())["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--per-message", type=int, default=1, help="readings per MQTT message (v1 arrays)")
    args = parser.parse_args()
    n = args.per_message

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        broker, bproc = local_services.start_mosquitto(root / "mosquitto")
        influx, iproc = local_services.start_influxd(root / "influxdb")
        try:
            prefix, db = "bench", "bench"
            topic_filter = f"{prefix}/v1/+"
            for client_id in ("bench-bare", "bench-consumer", "bench-ingest"):
                create_session(broker.port, client_id, topic_filter)
            messages = bench_messages(prefix, args.readings, args.devices, n)
            publish_rate = preload(broker.url, messages)
            bare_rate = bare_drain(broker.port, "bench-bare", len(messages))
            consumer_rate = asyncio.run(
                consumer_drain(broker.url, "bench-consumer", topic_filter, len(messages))
            )
            http_port = local_services.free_port()
            env = {
                **os.environ,
                "MQTT_URL": broker.url,
                "MQTT_TOPIC_PREFIX": prefix,
                "INFLUX_URL": influx.url,
                "INFLUX_DB": db,
                "INGEST_CLIENT_ID": "bench-ingest",
                "INGEST_DATA_DIR": str(root / "ingest"),
                "INGEST_HTTP_PORT": str(http_port),
                "INGEST_UNKNOWN_DEVICES": "accept",
                "INGEST_BATCH_SIZE": str(args.batch_size),
            }
            message_rate, rss, _ = run_ingest(env, http_port, len(messages))
            ingest_rate = message_rate * args.readings / len(messages)
            stored = count_points(influx.url, db)
        finally:
            local_services.stop_pid(bproc.pid)
            local_services.stop_pid(iproc.pid)

    print(f"machine: {machine()}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(
        f"readings: {args.readings:,} from {args.devices:,} devices in {len(messages):,} messages "
        f"({n} per message), QoS 1, batch {args.batch_size}"
    )
    print(f"{'what':<44}{'messages/s':>12}{'readings/s':>12}")
    rows = [
        ("publisher (preload, QoS 1)", publish_rate),
        ("bare paho client drain", bare_rate),
        ("bare MqttConsumer drain (ack_many per read)", consumer_rate),
    ]
    for what, rate in rows:
        print(f"{what:<44}{rate:>12,.0f}{rate * args.readings / len(messages):>12,.0f}")
    print(f"{'ingest end-to-end (ack after InfluxDB 2xx)':<44}{message_rate:>12,.0f}{ingest_rate:>12,.0f}")
    print(f"peak RSS: {rss:.0f} MB   stored: {stored:,}")
    if stored != args.readings:
        sys.exit(f"FAIL: stored {stored} of {args.readings}")


if __name__ == "__main__":
    main()
