"""Data for the roll-up tests: days of 15-minute readings around the last two DST changes, the
interval energy and emissions derived from them, written as ingest writes them (line protocol
into the default policy), and the roll-ups built by ingest's own rebuild (``python -m ingest
rollup``'s function), so the API's roll-up answers can be held to its raw answers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from tests.integration.api.conftest import DH_FACTOR, MARKET_FACTOR, roll_up, tags

LOCAL = ZoneInfo("Europe/Stockholm")
NS = 1_000_000_000
STEP_S = 900
HEAT_METERS = ("hm-tb-1", "hm-tb-2", "hm-ot-1", "hm-sub-1")


def last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


def dst_days(before: dt.date) -> tuple[dt.date, dt.date]:
    """The latest spring and autumn DST change days (Europe/Stockholm) on or before ``before``."""

    def latest(month: int) -> dt.date:
        day = last_sunday(before.year, month)
        return day if day <= before else last_sunday(before.year - 1, month)

    return latest(3), latest(10)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL)


@dataclass(frozen=True)
class Window:
    """Local days ``first`` … ``last`` (inclusive) around a DST change day."""

    dst_day: dt.date
    first: dt.date
    last: dt.date

    @classmethod
    def around(cls, dst_day: dt.date) -> Window:
        return cls(dst_day, dst_day - dt.timedelta(days=2), dst_day + dt.timedelta(days=2))

    @property
    def start(self) -> dt.datetime:
        return midnight(self.first)

    @property
    def end(self) -> dt.datetime:
        return midnight(self.last + dt.timedelta(days=1))

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def wiggle(i: int, k: int, spread: float) -> float:
    """A deterministic, uneven value in [0, spread) with many decimals."""
    return ((i * 7919 + k * 104729) % 1000) / 1000 * spread


def energy_points(device: str, carrier: str, ts_ns: int, kwh: float) -> list[Point]:
    base = (*tags(device), ("carrier", carrier))
    points = [Point("energy", tuple(sorted(base)), {"kwh": kwh}, ts_ns)]
    for method, factor in (("location", DH_FACTOR), ("market", MARKET_FACTOR)):
        fields = {"co2e_kg": kwh * factor / 1000, "factor_g_per_kwh": factor}
        points.append(Point("emissions", tuple(sorted((*base, ("method", method)))), fields, ts_ns))
    return points


def readings(start: dt.datetime, end: dt.datetime) -> tuple[list[Point], list[tuple[int, str, str, float]]]:
    """Every 15 minutes in [start, end): heat meters (gauges, registers, info code), the
    electricity meter, the indoor sensor, and interval energy/emissions. Returns the points and
    the intervals (ns, device, carrier, kWh)."""
    points: list[Point] = []
    intervals: list[tuple[int, str, str, float]] = []
    first_s = int(start.timestamp())
    for i in range((int(end.timestamp()) - first_s) // STEP_S):
        ts_ns = (first_s + i * STEP_S) * NS
        for k, device in enumerate(HEAT_METERS):
            power = 80.0 + 40 * k + wiggle(i, k, 60.0)
            supply = 75.0 + wiggle(i, k + 7, 20.0)
            ret = 35.0 + wiggle(i, k + 11, 10.0)
            fields = {
                "power_kw": power,
                "supply_temp_c": supply,
                "return_temp_c": ret,
                "delta_t_k": supply - ret,
                "energy_kwh": 10_000.0 * (k + 1) + i * 25.0 + wiggle(i, k, 1.0),
                "info_code": float((i + k) % 5 == 0) * 4,
            }
            points.append(Point("district_heating", tags(device), fields, ts_ns))
            kwh = power / 4
            points.extend(energy_points(device, "district_heat", ts_ns, kwh))
            intervals.append((ts_ns, device, "district_heat", kwh))
        power = 5.0 + wiggle(i, 3, 4.0)
        fields = {"power_kw": power, "energy_import_kwh": 500.0 + i * 1.5}
        points.append(Point("electricity", tags("em-tb-1"), fields, ts_ns))
        points.extend(energy_points("em-tb-1", "electricity", ts_ns, power / 4))
        intervals.append((ts_ns, "em-tb-1", "electricity", power / 4))
        fields = {"temperature_c": 20.0 + wiggle(i, 5, 3.0), "co2_ppm": 450.0 + wiggle(i, 6, 500.0)}
        points.append(Point("indoor_climate", tags("in-tb-1"), fields, ts_ns))
    return points, intervals


async def write_points(influx_url: str, db: str, points: list[Point]) -> None:
    async with InfluxClient(influx_url, db, timeout_s=60) as influx:
        await influx.ensure_database()
        for i in range(0, len(points), 5000):
            await influx.write(encode_batch(points[i : i + 5000]))


def write_and_roll_up(influx_url: str, db: str, points: list[Point], days: Iterable[dt.date]) -> None:
    async def go() -> None:
        await write_points(influx_url, db, points)
        await roll_up(influx_url, db, days)

    asyncio.run(go())
