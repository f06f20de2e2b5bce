"""End-to-end ingest throughput (QoS 1, ack after write) next to the bare MQTT client's drain rate.

    uv run python bench/bench_ingest.py [--readings 200000]

Both consumers drain the same number of QoS 1 messages that were queued on a persistent
session beforehand, from the same Mosquitto, in the same run:
- baseline: a bare paho-mqtt client that acknowledges each message as it arrives and does nothing else;
- ingest:   ``python -m ingest`` (parse, normalise, line protocol, POST to InfluxDB, ack after 2xx).
Then the stored point count is checked, and the ingest process's peak RSS is reported.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, create_session, local_services, machine, peak_rss_mb
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher


def preload(mqtt_url: str, prefix: str, readings: int, devices: int) -> float:
    fleet = [HeatMeter(f"hm-{i:05d}", design_load_kw=50 + i % 400) for i in range(devices)]
    messages = list(native_stream(fleet, time.time() - 30 * 86400, 60.0, readings, prefix=prefix))
    started = time.perf_counter()
    with Publisher(mqtt_url, window=20_000) as publisher:
        publisher.publish_many(messages)
    return readings / (time.perf_counter() - started)


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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        broker, bproc = local_services.start_mosquitto(root / "mosquitto")
        influx, iproc = local_services.start_influxd(root / "influxdb")
        try:
            prefix, db = "bench", "bench"
            create_session(broker.port, "bench-bare", f"{prefix}/v1/+")
            create_session(broker.port, "bench-ingest", f"{prefix}/v1/+")
            publish_rate = preload(broker.url, prefix, args.readings, args.devices)
            bare_rate = bare_drain(broker.port, "bench-bare", args.readings)
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
            ingest_rate, rss, _ = run_ingest(env, http_port, args.readings)
            stored = count_points(influx.url, db)
        finally:
            local_services.stop_pid(bproc.pid)
            local_services.stop_pid(iproc.pid)

    print(f"machine: {machine()}")
    print(f"readings: {args.readings:,} from {args.devices:,} devices, QoS 1, batch {args.batch_size}")
    print(f"{'what':<44}{'readings/s':>12}")
    print(f"{'publisher (preload, QoS 1)':<44}{publish_rate:>12,.0f}")
    print(f"{'bare paho client drain (baseline)':<44}{bare_rate:>12,.0f}")
    print(f"{'ingest end-to-end (ack after InfluxDB 2xx)':<44}{ingest_rate:>12,.0f}")
    print(f"ingest / baseline: {ingest_rate / bare_rate:.0%}   peak RSS: {rss:.0f} MB   stored: {stored:,}")
    if stored != args.readings:
        sys.exit(f"FAIL: stored {stored} of {args.readings}")


if __name__ == "__main__":
    main()
