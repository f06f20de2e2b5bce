"""Scale-out: 1, 2 and 3 ingest processes sharing one MQTT subscription group.

    uv run python -m bench.bench_scaleout [--readings 100000] [--devices 1000] [--counts 1 2 3]

For each process count N, in one Mosquitto + InfluxDB pair (a fresh topic prefix and database
per N), N ``python -m ingest`` processes share one ``INGEST_SHARED_GROUP`` with distinct
``INGEST_CLIENT_ID``s, in two phases:
- live: all N subscribed, a publisher in its own process pushes ``readings`` QoS 1 messages as
  fast as it can; aggregate readings/s from the first message received to the last acked, next
  to the publisher's own rate, which is the ceiling for this figure;
- drain: the group is stopped (its sessions stay), ``readings`` more are queued (Mosquitto hands
  shared-group messages round-robin to offline members' sessions too), the group is restarted and
  drains them: aggregate readings/s over the wall clock (first received by any to last acked by
  all; the processes start one after the other, so this is conservative) and each process's own
  rate over its own first-received → last-acked span.
Both phases' readings must be stored, exactly: 2 × ``readings`` points per N.

On a 2-core machine that also runs Mosquitto, InfluxDB and the publisher, more processes cannot
add CPU: the aggregate is CPU-bound. What this shows is that the mechanism works (every reading
stored exactly once, the broker spreads the load evenly) and what each process contributes.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue

from bench.bench_ingest import preload_fleet
from bench.common import (
    ACKED,
    RECEIVED,
    BenchFailure,
    IngestProcess,
    Stack,
    command_line,
    expect_stored,
    heat_fleet,
    local_stack,
    on_this_machine,
    wait_acked,
)
from simulators.heat import native_stream
from simulators.publisher import Publisher

GROUP = "bench"


@dataclass(frozen=True)
class ScaleRow:
    processes: int
    readings: int
    live_rate: float  # readings/s, first received → last acked, all processes, publisher running
    publish_rate: float  # readings/s the publisher managed meanwhile
    drain_rate: float  # readings/s draining a preloaded queue, first received → last acked
    drain_per_process: tuple[float, ...]  # each process's own readings/s during the drain
    split: tuple[int, ...]  # messages each process received during the drain
    stored: int


def _publish(mqtt_url: str, prefix: str, readings: int, devices: int, results: Queue[float]) -> None:
    """Child process: publish as fast as the broker acknowledges; report msg/s."""
    fleet = heat_fleet(devices)
    messages = list(native_stream(fleet, time.time() - 14 * 86400, 60.0, readings, prefix=prefix))
    started = time.perf_counter()
    with Publisher(mqtt_url, window=1000) as publisher:
        publisher.publish_many(messages)
    results.put(readings / (time.perf_counter() - started))


def _start_group(stack: Stack, processes: int, prefix: str, db: str) -> list[IngestProcess]:
    return [
        IngestProcess(
            stack,
            prefix=prefix,
            db=db,
            client_id=f"bench-{processes}-{k}",
            ingest_shared_group=GROUP,
            ingest_unknown_devices="accept",
            ingest_energy="off",  # as deployed: one energy follower derives energy for the group
        )
        for k in range(processes)
    ]


def _live(stack: Stack, processes: int, prefix: str, readings: int, devices: int) -> tuple[float, float]:
    """Start the group, publish while it consumes; returns (aggregate readings/s, publisher msg/s)."""
    group = _start_group(stack, processes, prefix, prefix)
    try:
        for ingest in group:
            ingest.wait_ready()
        ctx = multiprocessing.get_context("spawn")
        results: Queue[float] = ctx.Queue()
        publisher = ctx.Process(target=_publish, args=(stack.mqtt_url, prefix, readings, devices, results))
        publisher.start()
        first, done = wait_acked(group, readings)
        publisher.join(60)
        if publisher.exitcode != 0:
            raise BenchFailure(f"publisher exited with {publisher.exitcode}")
        return readings / (done - first), results.get(timeout=10)
    finally:
        for ingest in group:  # SIGTERM: each commits and acks what it holds; its session stays
            ingest.stop()


def _drain(
    stack: Stack, processes: int, prefix: str, readings: int, devices: int
) -> tuple[float, tuple[float, ...], tuple[int, ...]]:
    """Queue readings on the group's sessions while it is away (Mosquitto hands shared-group
    messages round-robin to offline members' sessions too), then restart it and time the drain.

    Returns (aggregate readings/s, each process's own readings/s, each process's share)."""
    fleet = heat_fleet(devices)
    preload_fleet(stack.mqtt_url, prefix, fleet, readings, time.time() - 7 * 86400, 60.0)
    group = _start_group(stack, processes, prefix, prefix)
    try:
        first = [0.0] * processes
        done = [0.0] * processes
        received = [0] * processes
        deadline = time.monotonic() + 600
        while not all(done):
            if time.monotonic() > deadline:
                raise BenchFailure(f"scale-out ×{processes}: the drain did not finish in 600 s")
            for k, ingest in enumerate(group):
                ingest.check_alive()
                try:
                    sample = ingest.metrics()
                except OSError:
                    continue
                received[k] = int(sample.get(RECEIVED, 0))
                now = time.perf_counter()
                if received[k] and not first[k]:
                    first[k] = now
                if received[k] and sample.get(ACKED, 0) >= received[k] and sum(received) >= readings:
                    done[k] = done[k] or now
            time.sleep(0.02)
    finally:
        for ingest in group:
            ingest.stop()
    if sum(received) != readings:
        raise BenchFailure(f"scale-out ×{processes}: drained {sum(received):,} of {readings:,}")
    per_process = tuple(n / (d - f) for n, f, d in zip(received, first, done, strict=True))
    return readings / (max(done) - min(first)), per_process, tuple(received)


def run_count(stack: Stack, processes: int, readings: int, devices: int) -> ScaleRow:
    """One process count: live phase, drain phase, then the stored count of both."""
    prefix = f"bench{processes}"
    live_rate, publish_rate = _live(stack, processes, prefix, readings, devices)
    drain_rate, per_process, split = _drain(stack, processes, prefix, readings, devices)
    stored = expect_stored(stack.influx_url, prefix, 2 * readings, f"scale-out ×{processes}")
    return ScaleRow(processes, readings, live_rate, publish_rate, drain_rate, per_process, split, stored)


def measure(
    readings: int = 100_000, devices: int = 1000, counts: tuple[int, ...] = (1, 2, 3)
) -> list[ScaleRow]:
    """Every process count in turn, on one pair of servers."""
    with local_stack("scaleout") as stack:
        return [run_count(stack, n, readings, devices) for n in counts]


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    with on_this_machine():
        print(f"{'processes':>9}{'live/s':>9}{'publisher/s':>13}{'drain/s':>9}  drain per process/s, split")
        for row in measure(args.readings, args.devices, tuple(args.counts)):
            print(
                f"{row.processes:>9}{row.live_rate:>9,.0f}{row.publish_rate:>13,.0f}{row.drain_rate:>9,.0f}  "
                + ", ".join(
                    f"{r:,.0f} ({n:,})" for r, n in zip(row.drain_per_process, row.split, strict=True)
                )
            )


if __name__ == "__main__":
    main()
