"""What a test talks to: the session's real services, the test's own slice of them, polling.

One Mosquitto and one InfluxDB serve the whole session; each test isolates itself with its own
topic prefix and its own database (:class:`Isolation`), so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


def as_number(cell: object) -> float:
    """A numeric cell of an InfluxDB answer, null read as 0: InfluxDB may answer an aggregate row
    with nulls (a count over a range or field without points, seen mid-write)."""
    return float(cell) if isinstance(cell, int | float) else 0.0


def wait_until(check: Callable[[], T], *, deadline_s: float = 60.0, interval_s: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy or ``deadline_s`` passes; returns its last
    answer (falsy on timeout, for the caller's assertion to explain)."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


@dataclass
class Services:
    """The session's real Mosquitto and InfluxDB (loopback, free ports) and their folder."""

    mqtt_url: str
    influx_url: str
    root: Path


_counter = itertools.count()


@dataclass
class Isolation:
    """A test's own topic prefix and database on the session's services."""

    prefix: str
    db: str
    services: Services

    @classmethod
    def new(cls, services: Services) -> Isolation:
        tag = f"t{os.getpid()}x{next(_counter)}x{uuid.uuid4().hex[:6]}"
        return cls(prefix=f"test/{tag}", db=f"db_{tag}", services=services)

    def query(self, q: str) -> list[list[object]]:
        """Run InfluxQL against the test's database; returns the first series' values (or [])."""
        r = httpx.get(
            f"{self.services.influx_url}/query", params={"q": q, "db": self.db, "epoch": "ns"}, timeout=60
        )
        r.raise_for_status()
        result = r.json()["results"][0]
        assert "error" not in result, result
        series = result.get("series", [])
        return list(series[0]["values"]) if series else []

    def count(self, measurement: str, field: str) -> int:
        """Points of ``measurement`` holding ``field`` in the test's database (0 if none)."""
        rows = self.query(f'SELECT count("{field}") FROM "{measurement}"')  # noqa: S608 (caller's own names)
        return int(as_number(rows[0][1])) if rows else 0
