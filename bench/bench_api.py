#!/usr/bin/env python3
"""API latency: a 30-day hourly energy query of one site holding 1-minute data (SPEC §10: p99 ≤ 100 ms).

    uv run python bench/bench_api.py [--requests 300] [--days 30]

Starts its own Mosquitto and InfluxDB (deploy/local/services.py) in a temporary folder, loads
``days`` × 1440 one-minute ``district_heating`` register points and as many ``energy`` interval
points for one site, starts ``python -m api`` as its own process, then times N sequential
``GET /sites/{site}/energy?every=hour`` requests over HTTP (after a warm-up) and prints p50/p99,
next to the same InfluxQL sent straight to InfluxDB.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import hash_key  # noqa: E402 (after the path set-up above)
from ingest.influx import InfluxClient  # noqa: E402
from ingest.lineprotocol import encode_batch  # noqa: E402
from ingest.schema import Point  # noqa: E402

_spec = importlib.util.spec_from_file_location("local_services", ROOT / "deploy" / "local" / "services.py")
assert _spec
assert _spec.loader
services = importlib.util.module_from_spec(_spec)
sys.modules["local_services"] = services  # its dataclasses look their module up
_spec.loader.exec_module(services)

SITE, DEVICE, DB = "bench-1", "hm-bench-1", "bench"
TAGS = (("device", DEVICE), ("network", "borlange"), ("owner", "tunabyggen"), ("site", SITE))


def points(days: int, end_s: int) -> list[Point]:
    """One heat meter: 1-minute registers plus the interval energy ingest derives from them."""
    out: list[Point] = []
    energy_kwh = 100_000.0
    start_s = end_s - days * 86400
    for minute in range(days * 1440):
        ts_ns = (start_s + minute * 60) * 10**9
        power_kw = 150.0 + 50.0 * ((minute // 60) % 24 < 7)
        kwh = power_kw / 60
        energy_kwh += kwh
        fields = {
            "energy_kwh": energy_kwh,
            "power_kw": power_kw,
            "supply_temp_c": 90.0,
            "return_temp_c": 45.0,
        }
        out.append(Point("district_heating", TAGS, fields, ts_ns))
        out.append(Point("energy", tuple(sorted((*TAGS, ("carrier", "district_heat")))), {"kwh": kwh}, ts_ns))
    return out


async def load(influx_url: str, data: list[Point]) -> None:
    async with InfluxClient(influx_url, DB, timeout_s=120) as influx:
        await influx.ensure_database()
        for i in range(0, len(data), 10_000):
            await influx.write(encode_batch(data[i : i + 10_000]))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(client: httpx.Client, url: str, params: dict[str, str], n: int, check: bool) -> list[float]:
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url, params=params)
        latencies.append((time.perf_counter() - t0) * 1000)
        if check:
            r.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    services.ensure_installed()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        influxd, iproc = services.start_influxd(tmp / "influxdb")
        mosquitto, mproc = services.start_mosquitto(tmp / "mosquitto")
        api_proc: subprocess.Popen[bytes] | None = None
        try:
            end_s = int(time.time()) // 3600 * 3600
            data = points(args.days, end_s)
            t0 = time.perf_counter()
            asyncio.run(load(influxd.url, data))
            took = time.perf_counter() - t0
            print(f"loaded {len(data):,} points ({args.days} days × 1440 minutes × 2) in {took:.1f} s")

            key = "bench-" + os.urandom(16).hex()
            (tmp / "keys.yaml").write_text(
                yaml.safe_dump(
                    {"keys": [{"name": "bench", "hash": hash_key(key), "scope": "owner:tunabyggen"}]}
                )
            )
            assets = {
                "owners": [{"id": "tunabyggen", "name": "Tunabyggen"}],
                "sites": [{"id": SITE, "name": "Bench", "owner": "tunabyggen", "network": "borlange",
                           "floor_area_m2": 2500.0}],
                "devices": [{"id": DEVICE, "site": SITE, "kind": "heat_meter"}],
            }  # fmt: skip
            (tmp / "assets.yaml").write_text(yaml.safe_dump(assets))
            port = services.free_port()
            env = {
                **os.environ,
                "ENERGY_ENV_FILE": str(tmp / "none.env"),
                "INFLUX_URL": influxd.url,
                "INFLUX_DB": DB,
                "MQTT_URL": mosquitto.url,
                "API_PORT": str(port),
                "API_KEYS_FILE": str(tmp / "keys.yaml"),
                "ASSETS_FILE": str(tmp / "assets.yaml"),
                "INGEST_DATA_DIR": str(tmp / "ingest"),
            }
            api_proc = subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=ROOT)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or api_proc.poll() is not None:
                        raise SystemExit("the API did not start")
                    time.sleep(0.1)
                start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s - args.days * 86400))
                end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s))
                params = {"every": "hour", "start": start, "end": end}
                body = client.get(f"/sites/{SITE}/energy", params=params).json()
                expected_kwh = sum(p.fields["kwh"] for p in data if p.measurement == "energy")
                got_kwh = sum(b["kwh"] for b in body["buckets"])
                print(f"buckets: {len(body['buckets'])}, kWh {got_kwh:,.1f} (expected {expected_kwh:,.1f})")
                timed(client, f"/sites/{SITE}/energy", params, 20, check=True)  # warm-up
                api_ms = timed(client, f"/sites/{SITE}/energy", params, args.requests, check=True)
            # The InfluxQL api/energy.py builds, for comparison; our own constants, nothing from outside.
            q = (
                f'SELECT sum("kwh") AS "total" FROM "energy" WHERE "site" = \'{SITE}\''  # noqa: S608
                f" AND time >= {(end_s - args.days * 86400) * 10**9} AND time < {end_s * 10**9}"
                " GROUP BY time(1h), \"carrier\" fill(none) tz('Europe/Stockholm')"
            )
            with httpx.Client(base_url=influxd.url, timeout=30) as raw:
                query = {"db": DB, "q": q, "epoch": "ns"}
                timed(raw, "/query", query, 20, check=True)
                influx_ms = timed(raw, "/query", query, args.requests, check=True)
            for name, samples in (
                ("API (HTTP, end to end)", api_ms),
                ("InfluxDB alone (same InfluxQL)", influx_ms),
            ):
                print(
                    f"{name:32s} n={len(samples)} p50={statistics.median(samples):6.1f} ms"
                    f" p99={percentile(samples, 0.99):6.1f} ms max={max(samples):6.1f} ms"
                )
        finally:
            for proc in (api_proc, mproc, iproc):
                if proc is not None:
                    services.stop_pid(proc.pid)


if __name__ == "__main__":
    main()
