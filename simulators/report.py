"""What the simulator published, and what ingest should make of it.

Tests compare these counts with InfluxDB and the dead letters: ``expected_points`` per
measurement are the readings that should be stored (one point each), ``expected_dead_letters``
per reason the ones that should be dead-lettered. Long runs show progress on a terminal.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from simulators.substation_faults import GroundTruth


@dataclass
class DeviceCounts:
    """One device's share of the run."""

    messages: int = 0
    readings: int = 0  # readings the device took (including those it never sent)
    good: int = 0  # readings that should be stored
    faults: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class GoodReading:
    """A reading that should be stored, as ingest should store it."""

    device_id: str
    measurement: str
    ts_s: float
    values: dict[str, float]


@dataclass
class Report:
    """Counts per device, per fault, per expected outcome; optionally every good reading."""

    keep_readings: bool = False
    messages: int = 0  # MQTT messages produced (duplicates and Sparkplug births included)
    readings: int = 0
    expected_points: Counter[str] = field(default_factory=Counter)
    expected_dead_letters: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    devices: dict[str, DeviceCounts] = field(default_factory=dict)
    good_readings: list[GoodReading] = field(default_factory=list)
    first_ts_s: float | None = None
    last_ts_s: float | None = None
    substation_faults: list[GroundTruth] | None = None  # ground truth, when substation faults were planned

    def device(self, device_id: str) -> DeviceCounts:
        counts = self.devices.get(device_id)
        if counts is None:
            counts = self.devices[device_id] = DeviceCounts()
        return counts

    def good(self, device_id: str, measurement: str, ts_s: float, values: dict[str, float]) -> None:
        """Count a reading that should become one point in ``measurement``."""
        self.expected_points[measurement] += 1
        self.device(device_id).good += 1
        if self.keep_readings:
            self.good_readings.append(GoodReading(device_id, measurement, ts_s, values))

    def dead_letter(self, reason: str, count: int = 1) -> None:
        """Count ``count`` dead letters ingest should keep for ``reason``."""
        self.expected_dead_letters[reason] += count

    def fault(self, device_id: str, fault: str) -> None:
        name = str(fault)  # a plain str key, also for StrEnum members: orjson wants exactly str
        self.faults[name] += 1
        self.device(device_id).faults[name] += 1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: totals, expectations and per-device counts."""
        return {
            "messages": self.messages,
            "readings": self.readings,
            "first_ts": self.first_ts_s,
            "last_ts": self.last_ts_s,
            "expected_points": dict(self.expected_points),
            "expected_dead_letters": dict(self.expected_dead_letters),
            "faults": dict(self.faults),
            "devices": {
                device_id: {
                    "messages": c.messages,
                    "readings": c.readings,
                    "good": c.good,
                    "faults": dict(c.faults),
                }
                for device_id, c in sorted(self.devices.items())
            },
        } | (
            {}
            if self.substation_faults is None
            else {"substation_faults": [t.to_dict() for t in self.substation_faults]}
        )

    def summary(self) -> str:
        """A few human lines for the end of a run."""

        def fmt(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "none"

        span = ""
        if self.first_ts_s is not None and self.last_ts_s is not None:
            span = f" from {_iso(self.first_ts_s)} to {_iso(self.last_ts_s)}"
        return "\n".join(
            (
                f"published {self.messages:,} messages with {self.readings:,} readings "
                f"from {len(self.devices):,} devices{span}",
                f"  expected points:       {fmt(self.expected_points)}",
                f"  expected dead letters: {fmt(self.expected_dead_letters)}",
                f"  faults injected:       {fmt(self.faults)}",
            )
            + (
                ()
                if self.substation_faults is None
                else (
                    f"  substation faults:     {fmt(Counter(str(t.fault) for t in self.substation_faults))}",
                )
            )
        )


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def with_progress(
    messages: Iterable[tuple[str, bytes]],
    report: Report,
    *,
    until_s: float | None = None,
    stream: TextIO = sys.stderr,
    every_s: float = 1.0,
) -> Iterator[tuple[str, bytes]]:
    """Pass messages through, redrawing one status line on ``stream`` about every ``every_s``."""
    started = last = time.monotonic()
    count = 0
    for message in messages:
        yield message
        count += 1
        if count & 0xFF == 0 and (now := time.monotonic()) - last >= every_s:
            last = now
            rate = count / (now - started)
            at = report.last_ts_s or 0.0
            done = ""
            if until_s is not None and report.first_ts_s is not None and until_s > report.first_ts_s:
                done = f"  {100 * (at - report.first_ts_s) / (until_s - report.first_ts_s):5.1f} %"
            stream.write(f"\r{count:>12,} messages  {rate:>9,.0f} msg/s  simulated {_iso(at)}{done}  ")
            stream.flush()
    if count >= 256:
        stream.write("\n")
