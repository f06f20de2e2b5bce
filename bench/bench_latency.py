"""Publish → queryable latency under a steady stream (SPEC §10: p99 ≤ 1 s at 5,000 readings/s).

    uv run python -m bench.bench_latency [--rate 5000] [--seconds 30] [--probe-ms 100] [--poll-ms 10]

- background: a separate process publishes native v1 heat-meter readings at ``rate`` msg/s
  (QoS 1, simulators.publisher.Publisher), one device per reading slot so each of ``rate``
  devices reports once a second with a current timestamp;
- probe: every ``probe-ms`` one reading of device ``bench-probe`` whose ``ts`` is the wall-clock
  time just before it is published;
- poller: every ``poll-ms`` asks InfluxDB for the probe's points newer than the oldest probe not
  yet seen, and notes the wall-clock time each one first shows up.

Latency = seen − published. It is an upper bound: it includes up to one poll interval and the
query's own time. Ingest runs with its defaults (batch of 5,000 or 200 ms, whichever comes first).
Before the timed stream, every background device sends three readings at once and the bench waits
until ingest acked them: a fresh InfluxDB spends seconds creating the series of thousands of new
devices, a one-off cost that is not the steady state measured here. At the end every probe must
have been seen and the stored count must equal the published count.
"""

from __future__ import annotations

import itertools
import multiprocessing
import statistics
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType

import orjson

from bench.common import (
    BenchFailure,
    IngestProcess,
    command_line,
    expect_stored,
    heat_fleet,
    influx_query,
    local_stack,
    on_this_machine,
    percentile,
    wait_acked,
)
from simulators.heat import native_stream
from simulators.publisher import Publisher

PREFIX = DB = "bench"
PROBE = "bench-probe"
# A fresh InfluxDB spends seconds creating the first series of thousands of devices (and ingest's
# register history starts empty): a one-off cost, not the steady state this bench is about. So each
# device first sends this many readings, published at once and waited for, before the timed stream.
WARM_UP_READINGS = 3


@dataclass(frozen=True)
class LatencyResult:
    target_rate: float
    achieved_rate: float  # background messages / seconds the background publisher took
    background: int
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    poll_ms: float
    mean_query_ms: float
    stored: int


def _background(
    mqtt_url: str, rate: float, count: int, warmed: EventType, go: EventType, results: Queue[float]
) -> None:
    """Child process: publish the warm-up readings at once, then ``count`` readings at ``rate``."""
    devices = max(1, int(rate))
    fleet = heat_fleet(devices)
    warm_up = WARM_UP_READINGS * devices
    stream = native_stream(fleet, time.time() - WARM_UP_READINGS, 1.0, warm_up + count, prefix=PREFIX)
    with Publisher(mqtt_url, "bench-background", window=1000) as publisher:
        publisher.publish_many(itertools.islice(stream, warm_up))
        warmed.set()
        go.wait()
        started = time.perf_counter()
        publisher.publish_many(stream, rate=rate)
        results.put(count / (time.perf_counter() - started))


class ProbeTracker:
    """Probe readings published but not yet seen in InfluxDB, and the latencies of those seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[int, float] = {}  # ts in ms → wall-clock publish time
        self.latencies_ms: list[float] = []
        self.query_s: list[float] = []

    def poll(self, influx_url: str) -> None:
        with self.lock:
            if not self.pending:
                return
            oldest = min(self.pending)
        started = time.perf_counter()
        q = f'SELECT "energy_kwh" FROM "district_heating" WHERE "device" = \'{PROBE}\' AND time >= {oldest}ms'  # noqa: S608 (constants only)
        series = influx_query(influx_url, DB, q, epoch="ms")
        seen_at = time.time()
        self.query_s.append(time.perf_counter() - started)
        with self.lock:
            for ts_ms, _ in series[0]["values"] if series else []:
                published = self.pending.pop(int(ts_ms), None)
                if published is not None:
                    self.latencies_ms.append((seen_at - published) * 1000)


def _probe_loop(mqtt_url: str, tracker: ProbeTracker, interval_s: float, stop: threading.Event) -> int:
    sent = 0
    with Publisher(mqtt_url, "bench-probe", window=10) as publisher:
        next_at = time.monotonic()
        while not stop.is_set():
            published = time.time()
            ts_ms = round(published * 1000)
            values = {"energy": 1000.0 + sent * 0.01, "power": 10.0, "supply_temp": 80.0, "return_temp": 40.0}
            with tracker.lock:
                tracker.pending[ts_ms] = published
            publisher.publish_many(
                [(f"{PREFIX}/v1/{PROBE}", orjson.dumps({"ts": ts_ms / 1000, "values": values}))]
            )
            sent += 1
            next_at += interval_s
            time.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def measure(
    rate: float = 5000, seconds: float = 30, probe_ms: float = 100, poll_ms: float = 10
) -> LatencyResult:
    """Run the background stream, the probes and the poller; check every probe and point arrived."""
    background = int(rate * seconds)
    with local_stack("latency") as stack:
        ingest = IngestProcess(stack, prefix=PREFIX, db=DB, ingest_unknown_devices="accept")
        try:
            ingest.wait_ready()
            ctx = multiprocessing.get_context("spawn")
            results: Queue[float] = ctx.Queue()
            warmed, go = ctx.Event(), ctx.Event()
            publisher = ctx.Process(
                target=_background, args=(stack.mqtt_url, rate, background, warmed, go, results)
            )
            publisher.start()
            warm_up = WARM_UP_READINGS * max(1, int(rate))
            if not warmed.wait(300):
                raise BenchFailure("the warm-up readings were not published within 300 s")
            wait_acked([ingest], warm_up)
            go.set()
            tracker = ProbeTracker()
            stop = threading.Event()
            probes: list[int] = []
            prober = threading.Thread(
                target=lambda: probes.append(_probe_loop(stack.mqtt_url, tracker, probe_ms / 1000, stop))
            )
            prober.start()
            while publisher.is_alive():
                ingest.check_alive()
                tracker.poll(stack.influx_url)
                time.sleep(poll_ms / 1000)
            stop.set()
            prober.join()
            if publisher.exitcode != 0:
                raise BenchFailure(f"background publisher exited with {publisher.exitcode}")
            achieved = results.get(timeout=10)
            deadline = time.monotonic() + 30
            while tracker.pending and time.monotonic() < deadline:
                tracker.poll(stack.influx_url)
                time.sleep(poll_ms / 1000)
            if tracker.pending:
                raise BenchFailure(f"{len(tracker.pending)} probe readings never became queryable")
            wait_acked([ingest], warm_up + background + probes[0])
        finally:
            ingest.stop()
        stored = expect_stored(stack.influx_url, DB, warm_up + background + probes[0], "latency")
    samples = tracker.latencies_ms
    return LatencyResult(
        rate,
        achieved,
        background,
        probes[0],
        statistics.median(samples),
        percentile(samples, 0.99),
        max(samples),
        poll_ms,
        statistics.fmean(tracker.query_s) * 1000,
        stored,
    )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--probe-ms", type=float, default=100)
    parser.add_argument("--poll-ms", type=float, default=10)
    args = parser.parse_args()
    with on_this_machine():
        r = measure(args.rate, args.seconds, args.probe_ms, args.poll_ms)
    print(
        f"background: {r.background:,} readings at {r.achieved_rate:,.0f} msg/s achieved"
        f" (target {r.target_rate:,.0f}); probes: {r.probes}; stored: {r.stored:,}"
    )
    print(
        f"publish → queryable: p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms, max {r.max_ms:.0f} ms"
        f" (upper bound: includes ≤ {r.poll_ms:.0f} ms poll interval + {r.mean_query_ms:.1f} ms mean query)"
    )


if __name__ == "__main__":
    main()
