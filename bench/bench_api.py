#!/usr/bin/env python3
"""API latency: a 30-day hourly energy query of one site holding 1-minute data (SPEC §10: p99 ≤ 100 ms).

    uv run python -m bench.bench_api [--requests 300] [--days 30]

Starts its own Mosquitto and InfluxDB (deploy/local/services.py) in a temporary folder, loads
``days`` × 1440 one-minute ``district_heating`` register points and as many ``energy`` interval
points for one site, starts ``python -m api`` as its own process, then times N sequential
``GET /sites/{site}/energy?every=hour`` requests over HTTP (after a warm-up) and prints p50/p99,
next to the same InfluxQL sent straight to InfluxDB.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import yaml

from api.auth import hash_key
from bench.common import (
    ROOT,
    BenchFailure,
    command_line,
    local_services,
    local_stack,
    on_this_machine,
    percentile,
)
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from energy_core.timeutil import NS

SITE, DEVICE, DB = "bench-1", "hm-bench-1", "bench"
TAGS = (("device", DEVICE), ("network", "borlange"), ("owner", "tunabyggen"), ("site", SITE))


def points(days: int, end_s: int) -> list[Point]:
    """One heat meter: 1-minute registers plus the interval energy ingest derives from them."""
    out: list[Point] = []
    energy_kwh = 100_000.0
    start_s = end_s - days * 86400
    for minute in range(days * 1440):
        ts_ns = (start_s + minute * 60) * NS
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


def timed(client: httpx.Client, url: str, params: dict[str, str], n: int, check: bool) -> list[float]:
    """Milliseconds of ``n`` sequential GETs."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url, params=params)
        latencies.append((time.perf_counter() - t0) * 1000)
        if check:
            r.raise_for_status()
    return latencies


@dataclass(frozen=True)
class ApiResult:
    points: int
    requests: int
    api_p50_ms: float
    api_p99_ms: float
    api_max_ms: float
    influx_p50_ms: float
    influx_p99_ms: float
    buckets: int


def _wait_healthy(client: httpx.Client, api_proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or api_proc.poll() is not None:
            raise BenchFailure("the API did not start")
        time.sleep(0.1)


def measure(requests: int = 300, days: int = 30) -> ApiResult:
    """Load the data, start the API, time the query over HTTP and straight against InfluxDB."""
    with local_stack("api") as stack:
        tmp = stack.root
        api_proc: subprocess.Popen[bytes] | None = None
        try:
            end_s = int(time.time()) // 3600 * 3600
            data = points(days, end_s)
            asyncio.run(load(stack.influx_url, data))
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
            port = local_services.free_port()
            env = {
                **os.environ,
                "ENERGY_ENV_FILE": str(tmp / "none.env"),
                "INFLUX_URL": stack.influx_url,
                "INFLUX_DB": DB,
                "MQTT_URL": stack.mqtt_url,
                "API_PORT": str(port),
                "API_KEYS_FILE": str(tmp / "keys.yaml"),
                "ASSETS_FILE": str(tmp / "assets.yaml"),
                "INGEST_DATA_DIR": str(tmp / "ingest"),
            }
            with open(tmp / "api.log", "wb") as api_log:
                api_proc = subprocess.Popen(
                    [sys.executable, "-m", "api"], env=env, cwd=ROOT, stdout=api_log, stderr=api_log
                )
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
                _wait_healthy(client, api_proc)
                start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s - days * 86400))
                end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s))
                params = {"every": "hour", "start": start, "end": end}
                body = client.get(f"/sites/{SITE}/energy", params=params).json()
                expected_kwh = sum(p.fields["kwh"] for p in data if p.measurement == "energy")
                got_kwh = sum(b["kwh"] for b in body["buckets"])
                if abs(got_kwh - expected_kwh) > 1e-6 * expected_kwh:
                    raise BenchFailure(f"api: the buckets sum to {got_kwh:,.1f} kWh, not {expected_kwh:,.1f}")
                timed(client, f"/sites/{SITE}/energy", params, 20, check=True)  # warm-up
                api_ms = timed(client, f"/sites/{SITE}/energy", params, requests, check=True)
            # The InfluxQL api/energy.py builds, for comparison; our own constants, nothing from outside.
            q = (
                f'SELECT sum("kwh") AS "total" FROM "energy" WHERE "site" = \'{SITE}\''  # noqa: S608
                f" AND time >= {(end_s - days * 86400) * NS} AND time < {end_s * NS}"
                " GROUP BY time(1h), \"carrier\" fill(none) tz('Europe/Stockholm')"
            )
            with httpx.Client(base_url=stack.influx_url, timeout=30) as raw:
                query = {"db": DB, "q": q, "epoch": "ns"}
                timed(raw, "/query", query, 20, check=True)
                influx_ms = timed(raw, "/query", query, requests, check=True)
        finally:
            if api_proc is not None:
                local_services.stop_pid(api_proc.pid)
    return ApiResult(
        len(data),
        requests,
        statistics.median(api_ms),
        percentile(api_ms, 0.99),
        max(api_ms),
        statistics.median(influx_ms),
        percentile(influx_ms, 0.99),
        len(body["buckets"]),
    )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with on_this_machine():
        r = measure(args.requests, args.days)
    print(f"loaded {r.points:,} points ({args.days} days × 1440 minutes × 2); buckets: {r.buckets}")
    print(
        f"API (HTTP, end to end)          n={r.requests} p50={r.api_p50_ms:6.1f} ms"
        f" p99={r.api_p99_ms:6.1f} ms max={r.api_max_ms:6.1f} ms"
    )
    print(
        f"InfluxDB alone (same InfluxQL)  n={r.requests} p50={r.influx_p50_ms:6.1f} ms"
        f" p99={r.influx_p99_ms:6.1f} ms"
    )


if __name__ == "__main__":
    main()
