"""The building KPIs of a local day (issue 16): energy per carrier, degree days, the normal year's
degree days, the weather-independent heat and indoor comfort, as ``building_kpi`` points.

Layout: :mod:`energy_core.analysis`; formulas and sources: docs/buildings.md. Per call of
:meth:`BuildingAnalyser.analyse` (any number of days) it runs three kinds of query, whatever
the number of sites: the daily energy roll-ups of the days and the signature window before
them, the daily weather roll-ups (all stored years when a station's normal is derived from
its history), and the hourly indoor roll-ups of the days (one query per run of up to 31 days).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from energy_core import lineprotocol
from energy_core.analysis import BUILDING_KPI, BUILDING_KPI_FLOOR_AREA_FIELD
from energy_core.degreedays import (
    BALANCE_C,
    DEFAULT_NORMAL_MIN_YEARS,
    CalendarDay,
    NormalYear,
    Rule,
    degree_days,
    derive_normal,
    load_normal_year,
    weather_independent_kwh,
)
from energy_core.errors import ConfigError
from energy_core.registry import Registry
from energy_core.rollups import RP_1D, RP_1H, local_day_of, local_midnight_ns, q, qualified
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY, Measurement, Point
from energy_core.stations import nearest_stations, station_sites

if TYPE_CHECKING:
    from energy_core.influx import InfluxClient
    from ingest.config import IngestSettings

log = structlog.get_logger(__name__)

INDOOR_RUN_DAYS = 31  # the longest span one hourly indoor query covers
WINDOW_CACHE_MAX_AGE_S = 3600.0  # the signature window's heat is re-read at least this often
_HEAT = CARRIER_DISTRICT_HEAT

SiteKey = tuple[str, str]  # (owner, site)


@dataclass(frozen=True, slots=True)
class BuildingParams:
    """The analyser's knobs (settings ``BUILDING_*``)."""

    balance_c: float = BALANCE_C
    rule: Rule = "smhi"
    comfort_low_c: float = 20.0
    comfort_high_c: float = 24.0
    co2_limit_ppm: float = 1000.0
    signature_days: int = 365
    normal_min_years: int = DEFAULT_NORMAL_MIN_YEARS


@dataclass(slots=True)
class _HeatCache:
    """Heat per site and day over [start, end), read at ``loaded`` (monotonic seconds)."""

    start: dt.date
    end: dt.date
    loaded: float
    heat: dict[SiteKey, dict[dt.date, float]]


@dataclass(frozen=True, slots=True)
class IndoorHour:
    """A site's indoor hour: the mean over its sensors' readings (None: no such reading)."""

    temperature_c: float | None
    co2_ppm: float | None


def comfort_fields(hours: Iterable[IndoorHour], params: BuildingParams) -> dict[str, float]:
    """comfort_low_h, comfort_high_h (hours with a temperature), co2_high_h (hours with CO₂), indoor_hours."""
    fields: dict[str, float] = {}
    hours = list(hours)
    temps = [h.temperature_c for h in hours if h.temperature_c is not None]
    co2 = [h.co2_ppm for h in hours if h.co2_ppm is not None]
    if temps:
        fields["comfort_low_h"] = float(sum(t < params.comfort_low_c for t in temps))
        fields["comfort_high_h"] = float(sum(t > params.comfort_high_c for t in temps))
    if co2:
        fields["co2_high_h"] = float(sum(c > params.co2_limit_ppm for c in co2))
    if hours:
        fields["indoor_hours"] = float(len(hours))
    return fields


class BuildingAnalyser:
    """A :class:`energy_core.analysis.DayAnalyser` writing ``building_kpi`` for every site with data."""

    name = "buildings"
    inputs = frozenset(
        {Measurement.ENERGY.value, Measurement.WEATHER.value, Measurement.INDOOR_CLIMATE.value}
    )

    def __init__(
        self, registry: Registry, params: BuildingParams | None = None, normal_year: NormalYear | None = None
    ) -> None:
        self.registry = registry
        self.params = params or BuildingParams()
        self.normal_year = normal_year or NormalYear({})
        self._stations = nearest_stations(registry)
        self._heat_cache: _HeatCache | None = None
        unknown = sorted(set(self.normal_year.stations) - set(station_sites(registry)))
        if unknown and registry.sites:
            raise ConfigError(
                f"NORMAL_YEAR_FILE names {unknown[0]!r}, which is no weather-station site in ASSETS_FILE"
            )

    @classmethod
    def from_settings(cls, settings: IngestSettings, registry: Registry) -> BuildingAnalyser:
        params = BuildingParams(
            balance_c=settings.building_balance_c,
            rule=settings.building_degree_day_rule,
            comfort_low_c=settings.building_comfort_low_c,
            comfort_high_c=settings.building_comfort_high_c,
            co2_limit_ppm=settings.building_co2_limit_ppm,
            signature_days=settings.building_signature_days,
            normal_min_years=settings.building_normal_min_years,
        )
        normal = None
        if settings.normal_year_file is not None:
            normal = load_normal_year(settings.normal_year_file, balance_c=params.balance_c, rule=params.rule)
        return cls(registry, params, normal)

    async def analyse(self, influx: InfluxClient, days: Sequence[dt.date]) -> list[str]:
        """The ``building_kpi`` lines of ``days`` (idempotent: the same stored data, the same lines)."""
        if not days:
            return []
        wanted = sorted(set(days))
        window_start = wanted[0] - dt.timedelta(days=self.params.signature_days)
        end_ns = local_midnight_ns(wanted[-1] + dt.timedelta(days=1))
        energy = await self._energy(influx, local_midnight_ns(wanted[0]), end_ns)
        with_energy = {key for carrier in energy.values() for key in carrier}
        energy[_HEAT] = await self._heat_window(influx, window_start, wanted, energy.get(_HEAT, {}))
        weather = await self._weather(influx, local_midnight_ns(window_start), end_ns)
        indoor = await self._indoor(influx, wanted)
        normals = NormalYear(self._derived_normals(weather))
        all_stations = tuple(sorted(weather))
        outdoor_of: dict[tuple[str, ...], dict[dt.date, float]] = {}
        lines: list[str] = []
        sites = sorted(with_energy | {key for key, _ in indoor})
        for owner, site in sites:
            stations = self._stations.get(site) or all_stations
            if stations not in outdoor_of:
                outdoor_of[stations] = _outdoor_by_day(weather, stations)
            outdoor = outdoor_of[stations]
            window = self._signature_rows(energy.get(_HEAT, {}).get((owner, site), {}), outdoor)
            for day in wanted:
                fields = self._day_fields(
                    (owner, site), day, energy, outdoor, indoor, stations, normals, window
                )
                if fields:
                    point = Point(
                        BUILDING_KPI, (("owner", owner), ("site", site)), fields, local_midnight_ns(day)
                    )
                    lines.append(lineprotocol.encode(point))
        log.info("building_kpis_analysed", days=len(wanted), sites=len(sites), lines=len(lines))
        return lines

    # -- one site and day (pure) ------------------------------------------------------------------

    def _day_fields(
        self,
        key: SiteKey,
        day: dt.date,
        energy: Mapping[str, Mapping[SiteKey, Mapping[dt.date, float]]],
        outdoor: Mapping[dt.date, float],
        indoor: Mapping[tuple[SiteKey, dt.date], Sequence[IndoorHour]],
        stations: Sequence[str],
        normals: NormalYear,
        window: tuple[list[dt.date], list[tuple[float, float, float]]],
    ) -> dict[str, float]:
        p = self.params
        fields: dict[str, float] = {}
        heat = energy.get(_HEAT, {}).get(key, {})
        electricity = energy.get(CARRIER_ELECTRICITY, {}).get(key, {})
        if day in heat:
            fields["heat_kwh"] = heat[day]
        if day in electricity:
            fields["electricity_kwh"] = electricity[day]
        hours = indoor.get((key, day), ())
        if not fields and not hours:
            return {}
        if (mean_c := outdoor.get(day)) is not None:
            fields["outdoor_temp_c"] = mean_c
            fields["degree_days"] = degree_days(mean_c, day, balance_c=p.balance_c, rule=p.rule)
        normal = self._normal(stations, day, normals)
        if normal is not None:
            fields["normal_degree_days"] = normal
        if "heat_kwh" in fields:
            dates, rows = window
            # The days before this one: a partial today (the clock) does not bend its own base.
            lo = bisect.bisect_left(dates, day - dt.timedelta(days=p.signature_days))
            base = weather_independent_kwh(rows[lo : bisect.bisect_left(dates, day)], balance_c=p.balance_c)
            if base is not None:
                fields["base_kwh"] = base.kwh
        fields.update(comfort_fields(hours, p))
        site = self.registry.sites.get(key[1])
        if site is not None and site.floor_area_m2:  # Atemp beside the energy: kWh/m² in Grafana
            fields[BUILDING_KPI_FLOOR_AREA_FIELD] = site.floor_area_m2
        return fields

    def _signature_rows(
        self, heat: Mapping[dt.date, float], outdoor: Mapping[dt.date, float]
    ) -> tuple[list[dt.date], list[tuple[float, float, float]]]:
        """The site's days with heat and weather, in time order, and their (outdoor °C, kWh, degree days)."""
        p = self.params
        dates = sorted(d for d in heat if d in outdoor)
        rows = [
            (outdoor[d], heat[d], degree_days(outdoor[d], d, balance_c=p.balance_c, rule=p.rule))
            for d in dates
        ]
        return dates, rows

    def _normal(self, stations: Sequence[str], day: dt.date, derived: NormalYear) -> float | None:
        """The mean over the site's stations of their normal (the file's, else the derived one)."""
        values = []
        for station in stations:
            value = self.normal_year.normal_of(station, day)
            if value is None:
                value = derived.normal_of(station, day)
            if value is not None:
                values.append(value)
        return math.fsum(values) / len(values) if values else None

    def _derived_normals(
        self, weather: Mapping[str, Mapping[dt.date, float]]
    ) -> dict[str, dict[CalendarDay, float]]:
        p = self.params
        return {
            station: derive_normal(days, balance_c=p.balance_c, rule=p.rule, min_years=p.normal_min_years)
            for station, days in weather.items()
            if station not in self.normal_year.stations
        }

    # -- queries ------------------------------------------------------------------------------------

    async def _energy(
        self, influx: InfluxClient, start_ns: int, end_ns: int, *, carrier: str | None = None
    ) -> dict[str, dict[SiteKey, dict[dt.date, float]]]:
        """carrier → (owner, site) → local day → kWh, from the daily energy roll-ups."""
        target = qualified(influx.db, RP_1D, Measurement.ENERGY.value)
        only = f" AND {q('carrier')} = '{carrier}'" if carrier else ""  # a schema constant
        query = (
            f"SELECT {q('kwh')} FROM {target} WHERE time >= {start_ns} AND time < {end_ns}{only}"  # noqa: S608 (schema names, ints)
            f" GROUP BY {q('owner')}, {q('site')}, {q('carrier')}"
        )
        out: dict[str, dict[SiteKey, dict[dt.date, float]]] = defaultdict(lambda: defaultdict(dict))
        for tags, columns, values in _series(await influx.query(query)):
            if not tags.get("site") or not tags.get("carrier") or "kwh" not in columns:
                continue
            per_day = out[tags["carrier"]][(tags.get("owner", ""), tags["site"])]
            t, k = columns.index("time"), columns.index("kwh")
            for row in values:
                if row[k] is not None:
                    day = local_day_of(int(row[t]))
                    per_day[day] = per_day.get(day, 0.0) + float(row[k])
        return out

    async def _heat_window(
        self,
        influx: InfluxClient,
        window_start: dt.date,
        days: Sequence[dt.date],
        fresh: Mapping[SiteKey, Mapping[dt.date, float]],
    ) -> dict[SiteKey, dict[dt.date, float]]:
        """Heat per site and day over the signature window up to the last of ``days``.

        The days before the first analysed one come from a cache of this analyser's earlier reads
        when it covers them and is younger than :data:`WINDOW_CACHE_MAX_AGE_S`: the runner passes
        every day whose energy changed, and those (``fresh``, just read) replace the cache's. A
        change the runner does not see (a roll-up rebuild by another process) reaches the window
        at the next reload. Without it, every clock pass would re-read a year of heat per site.
        """
        first, last = days[0], days[-1]
        cache, now = self._heat_cache, time.monotonic()
        if (
            cache is None
            or cache.start > window_start
            or cache.end < first
            or now - cache.loaded > WINDOW_CACHE_MAX_AGE_S
        ):
            older = await self._energy(
                influx, local_midnight_ns(window_start), local_midnight_ns(first), carrier=_HEAT
            )
            cache = _HeatCache(window_start, first, now, older.get(_HEAT, {}))
        for per_day in cache.heat.values():  # the analysed days and the window's ends: fresh, or gone
            for day in [d for d in per_day if d >= first or d < window_start]:
                del per_day[day]
        for key, fresh_days in fresh.items():
            cache.heat.setdefault(key, {}).update(fresh_days)
        cache.start, cache.end = window_start, last + dt.timedelta(days=1)
        self._heat_cache = cache
        return {key: dict(per_day) for key, per_day in cache.heat.items()}

    async def _weather(
        self, influx: InfluxClient, start_ns: int, end_ns: int
    ) -> dict[str, dict[dt.date, float]]:
        """Station site → local day → mean outdoor temperature (Σsum / Σcount over its devices).

        Every stored year when a station needs its normal derived (no file entry for it)."""
        stations = station_sites(self.registry)
        all_in_file = bool(stations) and all(s in self.normal_year.stations for s in stations)
        since = f"time >= {start_ns} AND " if all_in_file else ""
        target = qualified(influx.db, RP_1D, Measurement.WEATHER.value)
        query = (
            f"SELECT {q('outdoor_temp_c_sum')}, {q('outdoor_temp_c_count')} FROM {target}"  # noqa: S608 (schema names, ints)
            f" WHERE {since}time < {end_ns} GROUP BY {q('site')}"
        )
        sums: dict[str, dict[dt.date, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        for tags, columns, values in _series(await influx.query(query)):
            if not tags.get("site") or not {"outdoor_temp_c_sum", "outdoor_temp_c_count"} <= set(columns):
                continue
            per_day = sums[tags["site"]]
            t, s, c = (columns.index(f) for f in ("time", "outdoor_temp_c_sum", "outdoor_temp_c_count"))
            for row in values:
                if row[s] is not None and row[c]:
                    acc = per_day[local_day_of(int(row[t]))]
                    acc[0] += float(row[s])
                    acc[1] += float(row[c])
        return {site: {day: s / c for day, (s, c) in days.items() if c} for site, days in sums.items()}

    async def _indoor(
        self, influx: InfluxClient, days: Sequence[dt.date]
    ) -> dict[tuple[SiteKey, dt.date], list[IndoorHour]]:
        """(owner, site), local day → its indoor hours (the mean over the site's sensors per hour)."""
        target = qualified(influx.db, RP_1H, Measurement.INDOOR_CLIMATE.value)
        fields = ("temperature_c_sum", "temperature_c_count", "co2_ppm_sum", "co2_ppm_count")
        per_hour: dict[tuple[SiteKey, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        for first, last in _runs(days, INDOOR_RUN_DAYS):
            query = (
                f"SELECT {', '.join(q(f) for f in fields)} FROM {target}"  # noqa: S608 (schema names, ints)
                f" WHERE time >= {local_midnight_ns(first)}"
                f" AND time < {local_midnight_ns(last + dt.timedelta(days=1))}"
                f" GROUP BY {q('owner')}, {q('site')}"
            )
            for tags, columns, values in _series(await influx.query(query)):
                if not tags.get("site"):
                    continue
                key = (tags.get("owner", ""), tags["site"])
                t = columns.index("time")
                at = [
                    (i, columns.index(f)) for i, f in enumerate(fields) if f in columns
                ]  # a field never written
                for row in values:
                    acc = per_hour[(key, int(row[t]))]
                    for i, column in at:
                        if (value := row[column]) is not None:
                            acc[i] += float(value)
        out: dict[tuple[SiteKey, dt.date], list[IndoorHour]] = defaultdict(list)
        for (key, hour_ns), (t_sum, t_count, c_sum, c_count) in sorted(per_hour.items()):
            hour = IndoorHour(t_sum / t_count if t_count else None, c_sum / c_count if c_count else None)
            if hour.temperature_c is not None or hour.co2_ppm is not None:
                out[(key, local_day_of(hour_ns))].append(hour)
        return out


def _series(results: list[dict[str, Any]]) -> Iterable[tuple[dict[str, str], list[str], list[list[Any]]]]:
    """(tags, columns, rows) of every series of an InfluxDB answer."""
    for result in results:
        for series in result.get("series") or ():
            tags = {k: v for k, v in (series.get("tags") or {}).items() if v}
            yield tags, series["columns"], series["values"]


def _outdoor_by_day(
    weather: Mapping[str, Mapping[dt.date, float]], stations: Sequence[str]
) -> dict[dt.date, float]:
    """Local day → the mean over ``stations`` of their daily means (stations with data that day)."""
    per_day: dict[dt.date, list[float]] = defaultdict(list)
    for station in stations:
        for day, mean_c in weather.get(station, {}).items():
            per_day[day].append(mean_c)
    return {day: math.fsum(v) / len(v) for day, v in per_day.items()}


def _runs(days: Sequence[dt.date], max_days: int) -> list[tuple[dt.date, dt.date]]:
    """Contiguous (first, last) runs of the sorted ``days``, each at most ``max_days`` long."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day and (day - runs[-1][0]).days < max_days:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
