"""Scale-out: 1, 2 and 3 ingest processes sharing one MQTT subscription group.

    uv run python bench/bench_scaleout.py [--readings 100000] [--devices 1000] [--counts 1 2 3]

For each process count N, in one Mosquitto + InfluxDB pair (a fresh topic prefix and database
per N): start N ``python -m ingest`` processes with the same ``INGEST_SHARED_GROUP`` and
distinct ``INGEST_CLIENT_ID``s, wait until all are subscribed, then let a publisher in its own
process push ``readings`` QoS 1 messages as fast as it can. Reported per N: the aggregate
readings/s from the first message received to the last one acknowledged, the publisher's own
rate (the ceiling for the aggregate), and how the messages were split between the processes.

On a 2-core machine that also runs Mosquitto, InfluxDB and the publisher, more processes cannot
add CPU: the aggregate is CPU-bound. What this shows is that the mechanism works (every reading
stored exactly once, the broker spreads the load) and what each process contributes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    RECEIVED,
    BenchFailure,
    IngestProcess,
    Stack,
    expect_stored,
    load_average,
    local_stack,
    machine,
    wait_acked,
)
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher

GROUP = "bench"


@dataclass(frozen=True)
class ScaleRow:
    processes: int
    readings: int
    aggregate_rate: float  # readings/s, first received → last acked, all processes together
    publish_rate: float  # readings/s the publisher managed meanwhile
    split: tuple[int, ...]  # messages received by each process
    stored: int


def _publish(mqtt_url: str, prefix: str, readings: int, devices: int, results: Queue[float]) -> None:
    """Child process: publish as fast as the broker acknowledges; report msg/s."""
    fleet = [HeatMeter(f"hm-{i:05d}", design_load_kw=50 + i % 400) for i in range(devices)]
    messages = list(native_stream(fleet, time.time() - 7 * 86400, 60.0, readings, prefix=prefix))
    started = time.perf_counter()
    with Publisher(mqtt_url, window=1000) as publisher:
        publisher.publish_many(messages)
    results.put(readings / (time.perf_counter() - started))


def run_count(stack: Stack, processes: int, readings: int, devices: int) -> ScaleRow:
    """One process count: start the group, publish, wait for every ack, check the stored count."""
    prefix = db = f"bench{processes}"
    group = [
        IngestProcess(
            stack,
            prefix=prefix,
            db=db,
            client_id=f"bench-{processes}-{k}",
            ingest_shared_group=GROUP,
            ingest_unknown_devices="accept",
        )
        for k in range(processes)
    ]
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
        publish_rate = results.get(timeout=10)
        split = tuple(int(ingest.metrics().get(RECEIVED, 0)) for ingest in group)
    finally:
        for ingest in group:
            ingest.stop()
    if sum(split) != readings:
        raise BenchFailure(f"scale-out ×{processes}: received {sum(split):,} ≠ published {readings:,}")
    stored = expect_stored(stack.influx_url, db, readings, f"scale-out ×{processes}")
    return ScaleRow(processes, readings, readings / (done - first), publish_rate, split, stored)


def measure(
    readings: int = 100_000, devices: int = 1000, counts: tuple[int, ...] = (1, 2, 3)
) -> list[ScaleRow]:
    """Every process count in turn, on one pair of servers."""
    with local_stack("scaleout") as stack:
        return [run_count(stack, n, readings, devices) for n in counts]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}")
    print(f"{'processes':>9}{'aggregate/s':>13}{'per process/s':>15}{'publisher/s':>13}  split")
    for row in measure(args.readings, args.devices, tuple(args.counts)):
        print(
            f"{row.processes:>9}{row.aggregate_rate:>13,.0f}{row.aggregate_rate / row.processes:>15,.0f}"
            f"{row.publish_rate:>13,.0f}  {'/'.join(f'{n:,}' for n in row.split)}"
        )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
