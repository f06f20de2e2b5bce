"""Fault detection against the simulator's ground truth: precision, recall and time to detect per class.

    uv run python -m bench.bench_faults [--sites 500] [--days 61] [--start 2026-08-15] [--seed 1]
                                        [--share 0.4]

1. a simulated city (``simulators.city.build_city``) whose substations get faults at the
   simulator's prevalence (``simulators.substation_faults.plan``: about 40 % of them, every class);
2. 15-minute heat-meter readings of every substation and the weather station's outdoor
   temperature, written straight into a fresh InfluxDB as ingest writes them (the registry's tags,
   the same fields, ``delta_t_k`` derived as the normaliser does; silent meters write nothing);
3. the roll-ups with ``python -m ingest rollup``'s code (``ingest.rollup.cli.rebuild``), then the
   substation analysis over the whole range (``ingest analyse``'s analyser, its clock at the end);
4. per fault class, against the ground truth: recall (faults whose code was reported on the site
   from the fault's start on), median hours to detect (from the start to the end of the first local
   day the code was reported: the day's result is complete then; the live analysis of today runs on
   a clock, so this is an upper bound; for the gross faults also "live h": from the start to the
   finding's ``since_s`` plus the hours the rule needs, when a clock run would first see it), and
   per code its precision (sites reported with the code
   whose fault explains it: the fault's own code or one its physics also triggers, see
   ``substation_faults.CODES``) and the healthy sites it was reported on.

A summer bypass only shows at low load: its recall counts the faults that had at least two days
out of the heating season (daily mean outdoor ≥ the thresholds' ``outdoor_below_c``) after they
began. The goal (issue 15): ≥ 0.9 precision and recall for every class, gross faults (stuck
register, swapped sensors, silent meter) within 24 h.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import load_average, machine
from energy_core import analysis, lineprotocol, rollups
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.schema import Point
from energy_core.timeutil import NS
from energy_testing import services as local_services
from ingest.analysis.substations import SubstationAnalyser
from ingest.analysis.thresholds import Thresholds
from ingest.rollup.cli import rebuild
from ingest.rollup.retention import ensure_policies
from simulators.city import Format, build_city
from simulators.heat import HeatMeter
from simulators.substation_faults import GroundTruth, SubstationFault, meter_faults, plan
from simulators.weather import WeatherStation

STEP_S = 900.0  # 15-minute readings
WRITE_BATCH = 20_000
GROSS = frozenset(
    {
        SubstationFault.STUCK_ENERGY_REGISTER,
        SubstationFault.STUCK_VOLUME_REGISTER,
        SubstationFault.SWAPPED_SENSORS,
        SubstationFault.SILENT_METER,
    }
)
_FIELDS = {
    "energy": "energy_kwh",
    "volume": "volume_m3",
    "power": "power_kw",
    "flow": "flow_m3h",
    "supply_temp": "supply_temp_c",
    "return_temp": "return_temp_c",
    "info_code": "info_code",
    "outdoor_temp": "outdoor_temp_c",
}


@dataclass(frozen=True, slots=True)
class World:
    registry: Registry
    truth: list[GroundTruth]
    start_s: float
    end_s: float
    days: list[dt.date]
    heat_meters: int


def _point(
    tags: tuple[tuple[str, str], ...], measurement: str, ts_s: float, values: dict[str, float]
) -> Point:
    fields = {_FIELDS[k]: float(v) for k, v in values.items()}
    if "supply_temp_c" in fields and "return_temp_c" in fields:
        fields["delta_t_k"] = fields["supply_temp_c"] - fields["return_temp_c"]  # as ingest's normaliser
    return Point(measurement, tags, fields, round(ts_s * 1000) * 1_000_000)


async def write_city(
    influx: InfluxClient, sites: int, start: dt.datetime, days: int, seed: int, share: float
) -> World:
    """The city's readings over ``days`` local days from ``start``, written into ``influx``."""
    city = build_city(sites, seed=seed, formats=[Format.NATIVE])
    registry = Registry(city.assets())
    start_s = start.timestamp()
    end = (start + dt.timedelta(days=days)).astimezone(rollups.ZONE)
    end_s = end.timestamp()
    truth = plan(city, start_s, end_s, seed=seed, share=share)
    meters: list[tuple[HeatMeter | WeatherStation, tuple[tuple[str, str], ...], str]] = []
    for device in city.devices:
        model = device.model
        resolved = registry.resolve(device.id)
        assert resolved is not None
        if isinstance(model, HeatMeter):
            model.faults = meter_faults(truth, model.device_id)
            meters.append((model, resolved.tags, "district_heating"))
        elif isinstance(model, WeatherStation):
            meters.append((model, resolved.tags, "weather"))
    rng = random.Random(f"bench-faults-{seed}")
    lines: list[str] = []
    ticks = round((end_s - start_s) / STEP_S)
    for tick in range(ticks):
        ts_s = start_s + tick * STEP_S
        outdoor = city.climate.temperature_c(ts_s)
        for k, (model, tags, measurement) in enumerate(meters):
            at = ts_s + k % 60  # spread over the first minute, as real meters are
            values = model.read(at, outdoor, rng)
            if isinstance(model, HeatMeter) and model.faults and model.silent(at):
                continue
            lines.append(lineprotocol.encode(_point(tags, measurement, at, values)))
        if len(lines) >= WRITE_BATCH:
            await influx.write("\n".join(lines).encode())
            lines = []
    if lines:
        await influx.write("\n".join(lines).encode())
    local_days = [start.astimezone(rollups.ZONE).date() + dt.timedelta(days=d) for d in range(days)]
    heat_meters = sum(1 for m, _, _ in meters if isinstance(m, HeatMeter))
    return World(registry, truth, start_s, end_s, local_days, heat_meters)


async def reported(
    influx: InfluxClient, start_s: float, end_s: float
) -> tuple[dict[tuple[str, str], list[int]], dict[tuple[str, str, int], float]]:
    """(site, code) → the local-midnight ns of the days the code was active on the site; and
    (site, code, day ns) → the finding's ``since_s``."""
    fault = rollups.qualified(influx.db, analysis.RP, analysis.SUBSTATION_FAULT)
    query = (
        f'SELECT "active", "since_s" FROM {fault}'  # noqa: S608 (schema names, ints)
        f" WHERE time >= {int(start_s) * NS} AND time < {int(end_s) * NS}"
        ' GROUP BY "site", "code"'
    )
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    since: dict[tuple[str, str, int], float] = {}
    result = await influx.query(query)
    for series in result[0].get("series") or ():
        tags = series.get("tags") or {}
        for ts, active, since_s in series["values"]:
            if active is not None and active >= 0.5:
                out[(tags["site"], tags["code"])].append(int(ts))
                if since_s is not None:
                    since[(tags["site"], tags["code"], int(ts))] = float(since_s)
    return out, since


async def outdoor_days(influx: InfluxClient, start_s: float, end_s: float) -> dict[int, float]:
    """Local-midnight ns → the day's mean outdoor temperature (rollup_1d.weather)."""
    weather = rollups.qualified(influx.db, rollups.RP_1D, "weather")
    query = (
        f'SELECT mean("outdoor_temp_c_mean") FROM {weather} '  # noqa: S608
        f"WHERE time >= {int(start_s) * NS} AND time < {int(end_s) * NS} GROUP BY time(1d) fill(none)"
    )
    result = await influx.query(query)
    out: dict[int, float] = {}
    for series in result[0].get("series") or ():
        for ts, value in series["values"]:
            if value is not None:
                out[int(ts)] = float(value)
    return out


def _day_end_ns(day_ns: int) -> int:
    day = rollups.local_day_of(day_ns)
    return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), rollups.ZONE).timestamp()) * NS


@dataclass(frozen=True, slots=True)
class ClassScore:
    fault: SubstationFault
    code: str
    faults: int
    observable: int
    detected: int
    hours_to_detect: list[float]
    live_hours: list[float]  # gross faults: from the start to the finding's since_s + the rule's hours

    @property
    def recall(self) -> float | None:
        return self.detected / self.observable if self.observable else None


def score_classes(
    truth: Sequence[GroundTruth],
    found: dict[tuple[str, str], list[int]],
    end_s: float,
    summer_days: Sequence[int],
    since: dict[tuple[str, str, int], float] | None = None,
    rule_hours: dict[str, float] | None = None,
) -> list[ClassScore]:
    """Recall and time to detect per fault class (see the module docstring)."""
    scores: list[ClassScore] = []
    for fault in SubstationFault:
        mine = [t for t in truth if t.fault is fault]
        observable = detected = 0
        hours: list[float] = []
        live: list[float] = []
        for t in mine:
            start_ns = int(t.start_s) * NS
            if fault is SubstationFault.SUMMER_BYPASS:
                summer_after = [d for d in summer_days if _day_end_ns(d) > start_ns]
                if len(summer_after) < 2:
                    continue
            if t.start_s > end_s - 86400.0:
                continue  # less than a day to see it
            observable += 1
            until_ns = int(t.end_s if t.end_s is not None else end_s) * NS + 86400 * NS
            days = sorted(
                d for d in found.get((t.site, t.code), ()) if _day_end_ns(d) > start_ns and d < until_ns
            )
            if days:
                detected += 1
                hours.append((_day_end_ns(days[0]) - start_ns) / NS / 3600.0)
                began = (since or {}).get((t.site, t.code, days[0]))
                if fault in GROSS and began is not None and rule_hours and t.code in rule_hours:
                    live.append(max(0.0, began + 3600.0 * rule_hours[t.code] - t.start_s) / 3600.0)
        code = mine[0].code if mine else ""
        scores.append(ClassScore(fault, code, len(mine), observable, detected, hours, live))
    return scores


def score_codes(
    truth: Sequence[GroundTruth], found: dict[tuple[str, str], list[int]]
) -> dict[str, tuple[int, int, int]]:
    """code → (sites reported, of them explained by their fault, of them healthy)."""
    by_site = {t.site: t for t in truth}
    out: dict[str, tuple[int, int, int]] = {}
    for code in analysis.FAULT_CODES:
        sites = {site for (site, c), days in found.items() if c == code and days}
        explained = sum(1 for s in sites if s in by_site and code in (by_site[s].code, *by_site[s].also))
        healthy = sum(1 for s in sites if s not in by_site)
        out[code] = (len(sites), explained, healthy)
    return out


def unexplained(truth: Sequence[GroundTruth], found: dict[tuple[str, str], list[int]]) -> dict[str, int]:
    """``code ← fault class`` → sites where a fault reported a code its physics does not explain."""
    by_site = {t.site: t for t in truth}
    out: dict[str, int] = defaultdict(int)
    for (site, code), days in found.items():
        t = by_site.get(site)
        if days and t is not None and code not in (t.code, *t.also):
            out[f"{code} ← {t.fault}"] += 1
    return dict(sorted(out.items()))


def print_table(scores: Sequence[ClassScore], codes: dict[str, tuple[int, int, int]]) -> None:
    print(
        f"{'fault class':<23} {'code':<22} {'faults':>6} {'seen':>5} {'found':>5} {'recall':>6} "
        f"{'median h':>8} {'max h':>6} {'≤24 h':>5} {'live h':>6} {'reported':>8} {'precision':>9} "
        f"{'healthy':>7}"
    )
    for s in scores:
        reported_sites, explained, healthy = codes.get(s.code, (0, 0, 0))
        precision = f"{explained / reported_sites:.2f}" if reported_sites else "—"
        recall = f"{s.recall:.2f}" if s.recall is not None else "—"
        median = f"{statistics.median(s.hours_to_detect):.0f}" if s.hours_to_detect else "—"
        longest = f"{max(s.hours_to_detect):.0f}" if s.hours_to_detect else "—"
        within = f"{sum(h <= 24 for h in s.hours_to_detect)}" if s.fault in GROSS else ""
        live = f"{statistics.median(s.live_hours):.1f}" if s.live_hours else ""
        print(
            f"{s.fault:<23} {s.code:<22} {s.faults:>6} {s.observable:>5} {s.detected:>5} {recall:>6} "
            f"{median:>8} {longest:>6} {within:>5} {live:>6} {reported_sites:>8} {precision:>9} {healthy:>7}"
        )
    shown = {s.code for s in scores}
    for code, (reported_sites, explained, healthy) in codes.items():
        if code not in shown and reported_sites:
            blank = " " * 56  # the class columns and their separators
            print(
                f"{'(no class)':<23} {code:<22} {blank}"
                f"{reported_sites:>8} {explained / reported_sites:>9.2f} {healthy:>7}"
            )


async def run(sites: int, start: dt.datetime, days: int, seed: int, share: float) -> None:
    thresholds = Thresholds.load(None)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        running, proc = local_services.start_influxd(Path(tmp))
        try:
            async with InfluxClient(running.url, "faults", timeout_s=300) as influx:
                await influx.ensure_database()
                await ensure_policies(influx, rollup_days=0, raw_days=None)
                t0 = time.perf_counter()
                world = await write_city(influx, sites, start, days, seed, share)
                t1 = time.perf_counter()
                await rebuild(influx, world.days)
                t2 = time.perf_counter()
                analyser = SubstationAnalyser(world.registry, thresholds, now_ns=int(world.end_s) * NS)
                for first in range(0, len(world.days), 7):
                    lines = await analyser.analyse(influx, world.days[first : first + 7])
                    for i in range(0, len(lines), WRITE_BATCH):
                        await influx.write("\n".join(lines[i : i + WRITE_BATCH]).encode(), rp=analysis.RP)
                t3 = time.perf_counter()
                found, since = await reported(influx, world.start_s, world.end_s + 86400)
                outdoor = await outdoor_days(influx, world.start_s, world.end_s)
        finally:
            local_services.stop_pid(proc.pid)
    limit = thresholds.heating_season.outdoor_below_c
    summer = [d for d, t in outdoor.items() if t >= limit]
    faulty = len({t.site for t in world.truth})
    print(
        f"{world.heat_meters} substations, {len(world.days)} local days from {world.days[0]} "
        f"(seed {seed}); {faulty} with a fault ({faulty / world.heat_meters:.0%}); "
        f"{len(summer)} days out of the heating season (outdoor ≥ {limit:g} °C)"
    )
    print(
        f"written in {t1 - t0:.0f} s, rolled up in {t2 - t1:.0f} s, analysed in {t3 - t2:.0f} s "
        f"({(t3 - t2) / len(world.days):.2f} s per day of {world.heat_meters} substations)"
    )
    rule_hours = {
        "stuck_energy_register": float(thresholds.stuck_register.min_hours),
        "stuck_volume_register": float(thresholds.stuck_register.min_hours),
        "swapped_temperatures": float(thresholds.swapped_temperatures.min_hours),
        "silent_meter": max(
            thresholds.silent_meter.k * STEP_S / 3600.0, thresholds.silent_meter.min_silence_h
        ),
    }
    scores = score_classes(world.truth, found, world.end_s, summer, since, rule_hours)
    print_table(scores, score_codes(world.truth, found))
    odd = unexplained(world.truth, found)
    print(
        "reported on a faulty site but not explained by its fault: "
        + (", ".join(f"{k} {v}" for k, v in odd.items()) or "none")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--days", type=int, default=61)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 8, 15))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", type=float, default=0.4, help="share of substations with a fault")
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}")
    start = dt.datetime.combine(args.start, dt.time(), rollups.ZONE)  # a date without a zone: Stockholm
    asyncio.run(run(args.sites, start, args.days, args.seed, args.share))
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
