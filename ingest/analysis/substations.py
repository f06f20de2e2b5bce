"""The substations' daily analysis (issue 15): KPIs and fault findings of every heat meter, per local day.

:class:`SubstationAnalyser` is the :class:`energy_core.analysis.DayAnalyser` of substations. For
each local day it reads, for ALL sites at once (six statements per day, sent concurrently,
never one per site, so a day of 7,000 substations costs the same statements as one of ten):

1. ``rollup_1h.district_heating`` of the previous and of the given day, ``GROUP BY site`` (the
   previous day's early hours with registers and counts only);
2. ``rollup_1d.weather`` of the day, per station (the nearest one per site:
   :func:`energy_core.stations.nearest_stations`);
3. the stored ``substation_kpi`` of the trailing window (``INGEST_ANALYSIS_WINDOW_DAYS``);
4. the stored ``substation_fault`` points of the previous and the given day (the previous day's
   active ones continue as episodes; the given day's are cleared when they no longer fire).

It builds a :class:`ingest.analysis.model.SiteDay` per heat-meter site of the registry, calls the
pure :func:`ingest.analysis.kpis.day_kpi` and :func:`ingest.analysis.rules.detect`, and returns the
lines of :mod:`energy_core.analysis`: the day's ``substation_kpi`` point, a ``substation_fault``
point with ``active`` = 1 per finding and ``active`` = 0 for a (site, code) stored for that day
that no longer fires (late data clears a fault; nothing is deleted). Days are analysed oldest
first, and a day sees the results of the days before it in the same call (its history and its
open episodes), so a range is right even before its lines are written.

Idempotent: the same stored data gives the same lines (a cleared finding is written as cleared
again). Days after the clock's local day are skipped (nothing to say about the future).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from energy_core import analysis, lineprotocol, rollups
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.rollups import RP_1D, RP_1H, q, qualified
from energy_core.schema import DeviceKind
from energy_core.stations import nearest_stations
from energy_core.timeutil import HOUR_NS
from ingest.analysis.kpis import day_kpi
from ingest.analysis.model import DayKpi, Finding, HeatHour, SiteDay
from ingest.analysis.rules import detect
from ingest.analysis.thresholds import Thresholds

DEFAULT_WINDOW_DAYS = 28

# rollup_1h column → HeatHour attribute
_HOUR_COLUMNS = {
    "energy_kwh_first": "energy_first",
    "energy_kwh_last": "energy_last",
    "volume_m3_first": "volume_first",
    "volume_m3_last": "volume_last",
    "power_kw_mean": "power_mean",
    "flow_m3h_mean": "flow_mean",
    "supply_temp_c_mean": "supply_mean",
    "supply_temp_c_min": "supply_min",
    "supply_temp_c_max": "supply_max",
    "return_temp_c_mean": "return_mean",
    "return_temp_c_min": "return_min",
    "return_temp_c_max": "return_max",
    "info_code_last": "info_code_last",
    "info_code_max": "info_code_max",
}
# power_max and flow_max are not read (no rule uses them): the hours' answer is the largest one, and
# its cost grows with its columns. Add a column here when a rule needs it.
_COUNT_COLUMNS = ("power_kw_count", "return_temp_c_count")  # a reading carries both, usually
# The previous day's early hours give the rules registers and counts only (the register baseline
# and the last reading before the day); its last FULL_PREVIOUS_HOURS hours carry every column
# (runs of stuck, frozen or swapped hours that cross midnight).
_EARLY_COLUMNS = ("energy_kwh_first", "energy_kwh_last", "volume_m3_first", "volume_m3_last")
FULL_PREVIOUS_HOURS = 12
_KPI_OPTIONAL = tuple(
    f.name for f in fields(DayKpi) if f.name not in ("day", "hours", "readings", "from_registers")
)


@dataclass(frozen=True, slots=True)
class _Site:
    id: str
    owner: str
    network: str | None
    floor_area_m2: float | None
    stations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Stored:
    """What InfluxDB holds for one day's analysis: the six statements' answers."""

    hours: dict[str, list[HeatHour]]
    station_temp: dict[str, float]
    history: dict[str, list[DayKpi]]
    faults: dict[str, dict[str, tuple[float, float | None]]]  # site → code → (active, since_s), the day
    previous_faults: dict[str, dict[str, tuple[float, float | None]]]  # the same, the day before


@dataclass(slots=True)
class DayResult:
    """One site's outcome of one day (kept between the days of one call)."""

    kpi: DayKpi
    findings: list[Finding]


def _stored(day: dt.date, answers: Sequence[Mapping[str, Any]]) -> _Stored:
    early, late, day_hours, weather, history, faults = answers
    start, _ = rollups.day_bounds(day)
    hours = _hours(early)
    for part in (late, day_hours):
        for site, its_hours in _hours(part).items():
            hours.setdefault(site, []).extend(its_hours)
    return _Stored(
        hours=hours,
        station_temp=_station_temps(weather),
        history=_history(history),
        faults=_faults(faults, lambda ts: ts >= start),
        previous_faults=_faults(faults, lambda ts: ts < start),
    )


def heat_meter_sites(registry: Registry) -> list[_Site]:
    """The registry's sites that have a heat meter, sorted, with their stations."""
    stations = nearest_stations(registry)
    ids = sorted({d.site for d in registry.devices.values() if d.kind is DeviceKind.HEAT_METER})
    out = []
    for site_id in ids:
        site = registry.sites[site_id]
        out.append(_Site(site_id, site.owner, site.network, site.floor_area_m2, stations.get(site_id, ())))
    return out


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, (str, bool)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _string_field(text: str) -> str:
    """A line-protocol string field value: quoted, ``"`` and ``\\`` escaped, one line, bounded."""
    flat = " ".join(text.split())[:500]
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _series(result: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    yield from result.get("series") or ()


class SubstationAnalyser:
    """KPIs and findings of every heat-meter site of ``registry`` (see the module docstring)."""

    name = "substations"
    inputs = frozenset({"district_heating", "weather"})

    def __init__(
        self,
        registry: Registry,
        thresholds: Thresholds,
        *,
        window_days: int = DEFAULT_WINDOW_DAYS,
        now_ns: int | None = None,
    ) -> None:
        if window_days < 1:
            raise ValueError("the trailing window is at least one day")
        self.sites = heat_meter_sites(registry)
        self.thresholds = thresholds
        self.window_days = window_days
        self.fixed_now_ns = now_ns  # tests and the benchmark fix the clock

    def now_ns(self) -> int:
        return time.time_ns() if self.fixed_now_ns is None else self.fixed_now_ns

    async def analyse(self, influx: InfluxClient, days: Sequence[dt.date]) -> list[str]:
        """The lines of ``days`` (oldest first; days after the clock's day are skipped)."""
        now_ns = self.now_ns()
        today = rollups.local_day_of(now_ns)
        wanted = [day for day in sorted(set(days)) if day <= today] if self.sites else []
        lines: list[str] = []
        done: dict[dt.date, dict[str, DayResult]] = {}
        if not wanted:
            return lines
        # The next day's queries run while this day is judged; the judging (CPU: every site's KPIs
        # and rules) runs in a worker thread, so the event loop (MQTT acks, /healthz) stays responsive.
        reading: asyncio.Future[list[Mapping[str, Any]]] = asyncio.ensure_future(
            self._query(influx, wanted[0])
        )
        try:
            for i, day in enumerate(wanted):
                answers = await reading
                if i + 1 < len(wanted):
                    reading = asyncio.ensure_future(self._query(influx, wanted[i + 1]))
                results, day_lines = await asyncio.to_thread(self._day, day, now_ns, answers, done)
                done[day] = results
                lines.extend(day_lines)
        finally:
            if reading.done() and not reading.cancelled():
                reading.exception()  # retrieved: a failure of a day never judged is not logged twice
            reading.cancel()
        return lines

    def _day(
        self,
        day: dt.date,
        now_ns: int,
        answers: list[Mapping[str, Any]],
        done: Mapping[dt.date, Mapping[str, DayResult]],
    ) -> tuple[dict[str, DayResult], list[str]]:
        stored = _stored(day, answers)
        results = self._judge(day, now_ns, stored, done)
        return results, self._lines(day, results, stored)

    # -- reading -----------------------------------------------------------------------------

    def statements(self, day: dt.date, db: str) -> list[str]:
        """The InfluxQL statements that read one day's inputs for all sites (run concurrently):
        the previous day's early hours (registers and counts) and its last hours, the day's hours,
        the stations' day, the trailing window's KPIs, and the faults stored for the previous day
        and the day."""
        start, end = rollups.day_bounds(day)
        previous, _ = rollups.day_bounds(day - dt.timedelta(days=1))
        late = max(previous, start - FULL_PREVIOUS_HOURS * HOUR_NS)
        first, _ = rollups.day_bounds(day - dt.timedelta(days=self.window_days))
        hour_columns = ", ".join(q(c) for c in (*_HOUR_COLUMNS, *_COUNT_COLUMNS))
        early_columns = ", ".join(q(c) for c in (*_EARLY_COLUMNS, *_COUNT_COLUMNS))
        kpi_columns = ", ".join(q(c) for c in analysis.SUBSTATION_KPI_FIELDS)
        hours_from = qualified(db, RP_1H, "district_heating")
        return [
            f"SELECT {early_columns} FROM {hours_from}"  # noqa: S608 (schema names, ints)
            f" WHERE time >= {previous} AND time < {late} GROUP BY {q('site')}",
            f"SELECT {hour_columns} FROM {hours_from}"  # noqa: S608 (schema names, ints)
            f" WHERE time >= {late} AND time < {start} GROUP BY {q('site')}",
            f"SELECT {hour_columns} FROM {hours_from}"  # noqa: S608 (schema names, ints)
            f" WHERE time >= {start} AND time < {end} GROUP BY {q('site')}",
            f"SELECT {q('outdoor_temp_c_sum')}, {q('outdoor_temp_c_count')}"  # noqa: S608
            f" FROM {qualified(db, RP_1D, 'weather')}"
            f" WHERE time >= {start} AND time < {end} GROUP BY {q('site')}",
            f"SELECT {kpi_columns} FROM {qualified(db, analysis.RP, analysis.SUBSTATION_KPI)}"  # noqa: S608
            f" WHERE time >= {first} AND time < {start} GROUP BY {q('site')}",
            f"SELECT {q('active')}, {q('since_s')}"  # noqa: S608
            f" FROM {qualified(db, analysis.RP, analysis.SUBSTATION_FAULT)}"
            f" WHERE time >= {previous} AND time < {end} GROUP BY {q('site')}, {q('code')}",
        ]

    async def _query(self, influx: InfluxClient, day: dt.date) -> list[Mapping[str, Any]]:
        """The statements' answers (concurrent requests, not one of several statements: InfluxDB
        answers them on its cores at once)."""
        answers = await asyncio.gather(
            *(influx.query(statement, method="POST") for statement in self.statements(day, influx.db))
        )
        return [a[0] if a else {} for a in answers]

    async def _read(self, influx: InfluxClient, day: dt.date) -> _Stored:
        """What InfluxDB holds for ``day`` (the benchmark times this alone)."""
        return _stored(day, await self._query(influx, day))

    # -- judging -----------------------------------------------------------------------------

    def _judge(
        self, day: dt.date, now_ns: int, stored: _Stored, done: Mapping[dt.date, Mapping[str, DayResult]]
    ) -> dict[str, DayResult]:
        yesterday = day - dt.timedelta(days=1)
        first = day - dt.timedelta(days=self.window_days)
        results: dict[str, DayResult] = {}
        for site in self.sites:
            history = {k.day: k for k in stored.history.get(site.id, ()) if first <= k.day < day}
            for earlier, by_site in done.items():  # this call's own results win over the stored ones
                if first <= earlier < day and site.id in by_site:
                    history[earlier] = by_site[site.id].kpi
            if yesterday in done:
                previous = done[yesterday].get(site.id)
                open_findings = {} if previous is None else {f.code: f.since_s for f in previous.findings}
            else:
                open_findings = {
                    code: since
                    for code, (active, since) in stored.previous_faults.get(site.id, {}).items()
                    if active >= 1.0 and since is not None
                }
            temps = [stored.station_temp[s] for s in site.stations if s in stored.station_temp]
            site_day = SiteDay(
                site=site.id,
                owner=site.owner,
                network=site.network,
                day=day,
                now_ns=now_ns,
                hours=stored.hours.get(site.id, ()),
                outdoor_temp_c=sum(temps) / len(temps) if temps else None,
                history=[history[d] for d in sorted(history)],
                open_findings=open_findings,
                floor_area_m2=site.floor_area_m2,
            )
            kpi = day_kpi(site_day, self.thresholds)
            results[site.id] = DayResult(kpi, list(detect(site_day, kpi, self.thresholds)))
        return results

    # -- writing -----------------------------------------------------------------------------

    def _lines(self, day: dt.date, results: Mapping[str, DayResult], stored: _Stored) -> list[str]:
        ts = rollups.local_midnight_ns(day)
        out: list[str] = []
        for site in self.sites:
            result = results.get(site.id)
            if result is None:
                continue
            base = (("network", site.network or ""), ("owner", site.owner), ("site", site.id))
            kpi_fields = _kpi_fields(result.kpi)
            if kpi_fields:
                out.append(f"{lineprotocol.series_key(analysis.SUBSTATION_KPI, base)} {kpi_fields} {ts}")
            fired = set()
            for finding in sorted(result.findings, key=lambda f: f.code):
                fired.add(finding.code)
                body = ",".join(
                    (
                        "active=1.0",
                        f"since_s={float(finding.since_s)!r}",
                        f"value={float(finding.value)!r}",
                        f"threshold={float(finding.threshold)!r}",
                        f"text={_string_field(finding.text)}",
                    )
                )
                out.append(f"{self._fault_series(base, finding.code)} {body} {ts}")
            for code in sorted(stored.faults.get(site.id, {})):
                if code not in fired and code in analysis.FAULTS:
                    out.append(f"{self._fault_series(base, code)} active=0.0 {ts}")
        return out

    @staticmethod
    def _fault_series(base: tuple[tuple[str, str], ...], code: str) -> str:
        tags = tuple(sorted((*base, ("code", code), ("severity", analysis.FAULTS[code].severity))))
        return lineprotocol.series_key(analysis.SUBSTATION_FAULT, tags)


def _kpi_fields(kpi: DayKpi) -> str:
    parts = [f"hours={float(kpi.hours)!r}", f"readings={float(kpi.readings)!r}"]
    parts.append(f"from_registers={1.0 if kpi.from_registers else 0.0!r}")
    for name in _KPI_OPTIONAL:
        value = _finite(getattr(kpi, name))
        if value is not None:
            parts.append(f"{name}={value!r}")
    return ",".join(sorted(parts))


def _columns(series: Mapping[str, Any]) -> dict[str, int]:
    return {c: i for i, c in enumerate(series["columns"])}


def _hours(result: Mapping[str, Any]) -> dict[str, list[HeatHour]]:
    out: dict[str, list[HeatHour]] = {}
    for series in _series(result):
        site = (series.get("tags") or {}).get("site")
        if not site:
            continue
        index = _columns(series)
        picks = [(attr, index[col]) for col, attr in _HOUR_COLUMNS.items() if col in index]
        counts = [index[c] for c in _COUNT_COLUMNS if c in index]
        hours = out.setdefault(site, [])
        seen: set[int] = set()
        for row in series["values"]:
            start = int(row[0])
            if start in seen:  # two meters on one site: the first one's hour (one meter per site)
                continue
            values = {attr: _finite(row[i]) for attr, i in picks}
            present = [c for i in counts if (c := _finite(row[i])) is not None]
            count = max(present) if present else 1.0  # registers only: at least one reading
            if not present and all(v is None for v in values.values()):
                continue
            seen.add(start)
            hours.append(HeatHour(start_ns=start, count=count, **values))
        hours.sort(key=lambda h: h.start_ns)
    return out


def _station_temps(result: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for series in _series(result):
        site = (series.get("tags") or {}).get("site")
        index = _columns(series)
        total = count = 0.0
        for row in series["values"]:
            s, c = _finite(row[index["outdoor_temp_c_sum"]]), _finite(row[index["outdoor_temp_c_count"]])
            if s is not None and c:
                total, count = total + s, count + c
        if site and count:
            out[site] = total / count
    return out


def _history(result: Mapping[str, Any]) -> dict[str, list[DayKpi]]:
    out: dict[str, list[DayKpi]] = {}
    for series in _series(result):
        site = (series.get("tags") or {}).get("site")
        if not site:
            continue
        index = _columns(series)
        for row in series["values"]:
            values = {name: _finite(row[index[name]]) if name in index else None for name in _KPI_OPTIONAL}
            hours = _finite(row[index["hours"]]) if "hours" in index else None
            readings = _finite(row[index["readings"]]) if "readings" in index else None
            registers = _finite(row[index["from_registers"]]) if "from_registers" in index else None
            if hours is None and all(v is None for v in values.values()):
                continue
            out.setdefault(site, []).append(
                DayKpi(
                    day=rollups.local_day_of(int(row[0])),
                    hours=hours or 0.0,
                    readings=readings or 0.0,
                    from_registers=bool(registers),
                    **values,
                )
            )
    return out


def _faults(
    result: Mapping[str, Any], keep: Callable[[int], bool]
) -> dict[str, dict[str, tuple[float, float | None]]]:
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for series in _series(result):
        tags = series.get("tags") or {}
        site, code = tags.get("site"), tags.get("code")
        if not site or not code:
            continue
        index = _columns(series)
        for row in series["values"]:
            if not keep(int(row[0])):
                continue
            active = _finite(row[index["active"]]) if "active" in index else None
            since = _finite(row[index["since_s"]]) if "since_s" in index else None
            out.setdefault(site, {})[code] = (active or 0.0, since)
    return out


def findings_by_code(lines: Iterable[str], day: dt.date | None = None) -> dict[str, int]:
    """Active findings per fault code in analysis lines (of local ``day`` only, if given)."""
    ts = None if day is None else str(rollups.local_midnight_ns(day))
    counts: dict[str, int] = {}
    prefix = analysis.SUBSTATION_FAULT + ","
    for line in lines:
        if not line.startswith(prefix) or " active=1.0," not in line:
            continue
        if ts is not None and not line.endswith(" " + ts):
            continue
        head = line.split(" ", 1)[0]
        for tag in head.split(",")[1:]:
            key, _, value = tag.partition("=")
            if key == "code":
                counts[value] = counts.get(value, 0) + 1
    return counts
