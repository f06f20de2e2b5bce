"""Shared pieces of the benchmarks: local services, ingest as a subprocess, counts, percentiles, RSS.

Every benchmark starts its own Mosquitto and InfluxDB (energy_testing/services.py) in a temporary
folder and stops them at the end; ingest always runs as ``python -m ingest`` in its own process,
configured through environment variables, exactly as it is deployed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from energy_testing import services as local_services
from simulators.heat import HeatMeter

ROOT = Path(__file__).resolve().parent.parent
local_services.die_with_this_process()


class BenchFailure(RuntimeError):
    """A benchmark's own correctness check failed (lost points, a process died, a timeout)."""


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


@dataclass(frozen=True)
class Stack:
    """A running Mosquitto + InfluxDB pair and the temporary folder that holds their data."""

    mqtt_url: str
    mqtt_port: int
    influx_url: str
    root: Path


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with its module docstring as the help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


@contextmanager
def on_this_machine() -> Iterator[None]:
    """Print the machine and the load average before the run and the load average after it."""
    print(f"machine: {machine()}\nload average at start: {load_average()}")
    yield
    print(f"load average at end: {load_average()}")


Start = Callable[[Path], tuple[local_services.Running, subprocess.Popen[bytes]]]


@contextmanager
def _server(start: Start, directory: Path) -> Iterator[local_services.Running]:
    server, proc = start(directory)
    try:
        yield server
    finally:
        local_services.stop_pid(proc.pid)


@contextmanager
def local_stack(name: str) -> Iterator[Stack]:
    """Start Mosquitto and InfluxDB in a fresh temporary folder; stop both and delete it on exit."""
    local_services.ensure_installed()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        root = Path(tmp)
        with (
            _server(local_services.start_mosquitto, root / "mosquitto") as broker,
            _server(local_services.start_influxd, root / "influxdb") as influx,
        ):
            yield Stack(broker.url, broker.port, influx.url, root)


@contextmanager
def local_broker(name: str) -> Iterator[str]:
    """Start Mosquitto alone in a fresh temporary folder and yield its URL; stop it on exit."""
    local_services.ensure_installed()
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp,
        _server(local_services.start_mosquitto, Path(tmp) / "mosquitto") as broker,
    ):
        yield broker.url


def ingest_env(
    stack: Stack, *, prefix: str, db: str, client_id: str, data_dir: Path, http_port: int, **extra: str
) -> dict[str, str]:
    """The environment ``python -m ingest`` runs with; ``extra`` keys are upper-cased variable names."""
    return {
        **os.environ,
        "ENERGY_ENV_FILE": str(stack.root / "no.env"),  # never pick up a developer's .env
        "MQTT_URL": stack.mqtt_url,
        "MQTT_TOPIC_PREFIX": prefix,
        "INFLUX_URL": stack.influx_url,
        "INFLUX_DB": db,
        "INGEST_CLIENT_ID": client_id,
        "INGEST_DATA_DIR": str(data_dir),
        "INGEST_HTTP_PORT": str(http_port),
        **{key.upper(): value for key, value in extra.items()},
    }


class IngestProcess:
    """``python -m ingest`` as a child process, read through its /metrics and /readyz endpoints."""

    def __init__(
        self,
        stack: Stack,
        *,
        prefix: str,
        db: str,
        client_id: str = "bench-ingest",
        log_level: str = "INFO",
        **extra: str,
    ) -> None:
        self.http_port = local_services.free_port()
        data_dir = stack.root / f"ingest-{client_id}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "ingest.log"
        env = ingest_env(
            stack,
            prefix=prefix,
            db=db,
            client_id=client_id,
            data_dir=data_dir,
            http_port=self.http_port,
            **extra,
        )
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest", "--log-level", log_level],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchFailure(f"ingest exited with {self.proc.returncode}:\n{tail}")

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until /readyz answers 200: connected and subscribed, so nothing published is missed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self._get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchFailure(f"ingest not ready within {timeout_s:.0f} s (log: {self.log_path})")

    def metrics(self) -> dict[str, float]:
        """Un-labelled samples of /metrics by name (0 for what is not there yet)."""
        out: dict[str, float] = {}
        for line in self._get("/metrics")[1].splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split()[:2]
                out[name] = float(value)
        return out

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        local_services.stop_pid(self.proc.pid, timeout=30)


RECEIVED = "ingest_messages_received_total"
ACKED = "ingest_messages_acked_total"


def wait_acked(
    processes: Sequence[IngestProcess], expected: int, timeout_s: float = 600.0
) -> tuple[float, float]:
    """Poll the processes' metrics until together they acked ``expected`` messages.

    Returns (perf_counter when the first message was seen received, perf_counter when all were
    acked); the resolution is the 20 ms poll interval.
    """
    first = 0.0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        received = acked = 0.0
        for process in processes:
            process.check_alive()
            try:
                sample = process.metrics()
            except OSError:
                continue
            received += sample.get(RECEIVED, 0.0)
            acked += sample.get(ACKED, 0.0)
        now = time.perf_counter()
        if received and not first:
            first = now
        if acked >= expected:
            return first, now
        time.sleep(0.02)
    raise BenchFailure(f"ingest did not ack {expected:,} messages within {timeout_s:.0f} s")


def influx_query(influx_url: str, db: str, q: str, epoch: str = "ns") -> list[dict[str, Any]]:
    """Run InfluxQL over the v1 HTTP API; returns the first result's series."""
    params = urlencode({"db": db, "q": q, "epoch": epoch})
    with urllib.request.urlopen(f"{influx_url}/query?{params}", timeout=60) as r:  # noqa: S310
        result = json.loads(r.read())["results"][0]
    if "error" in result:
        raise BenchFailure(f"InfluxDB: {result['error']}")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def count_points(
    influx_url: str, db: str, measurement: str = "district_heating", field: str = "energy_kwh"
) -> int:
    """Stored points of one field in one measurement (the benchmarks' loss check)."""
    q = f'SELECT count("{field}") FROM "{measurement}"'  # noqa: S608 (the benches' own constants)
    series = influx_query(influx_url, db, q)
    return int(series[0]["values"][0][1]) if series else 0


def expect_stored(influx_url: str, db: str, expected: int, what: str) -> int:
    """Fail loudly unless exactly ``expected`` register points are stored."""
    stored = count_points(influx_url, db)
    if stored != expected:
        raise BenchFailure(f"{what}: stored {stored:,} points, published {expected:,}")
    return stored


def create_session(port: int, client_id: str, topic_filter: str) -> None:
    """Create a persistent MQTT 5 session subscribed to ``topic_filter``, then leave it."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe(topic_filter, qos=1)
    if not subscribed.wait(10):
        raise TimeoutError("no SUBACK")
    client.disconnect()
    client.loop_stop()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 1]."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_assets(path: Path, device_ids: Sequence[str], owner: str = "bench") -> Path:
    """An ASSETS_FILE (energy_core/registry.py's format) with one heat meter per substation site."""
    import yaml

    assets = {
        "owners": [{"id": owner, "name": "Bench"}],
        "sites": [{"id": f"site-{d}", "name": d, "owner": owner, "network": "borlange"} for d in device_ids],
        "devices": [{"id": d, "site": f"site-{d}", "kind": "heat_meter"} for d in device_ids],
    }
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 10,000 devices
    path.write_text(yaml.dump(assets, Dumper=dumper, sort_keys=False))
    return path


def heat_fleet(devices: int | list[str]) -> list[HeatMeter]:
    """The benchmarks' heat meters: ``hm-00000``… (or the given ids), loads spread over 50–449 kW."""
    ids = [f"hm-{i:05d}" for i in range(devices)] if isinstance(devices, int) else devices
    return [HeatMeter(device_id, design_load_kw=50 + i % 400) for i, device_id in enumerate(ids)]
