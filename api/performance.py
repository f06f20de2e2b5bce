"""Building performance (issue 16): kWh per m² Atemp, actual and weather-normalised, year on year,
the energy signature and indoor comfort, read from the daily ``building_kpi`` points
(energy_core/analysis.py; written by ingest's building analyser into ``rollup_1d``).

Atemp: Boverket's energy declaration divides by the heated floor area above 10 °C (Atemp,
BBR 9:1 / BFS 2007:4); the registry's ``floor_area_m2`` stands for it. kWh here is heat plus
electricity (the building's meters); the normalised figure corrects the heat only
(graddagskorrigering, :func:`energy_core.analysis.normalised_heat` over the period's sums),
electricity is not weather-corrected.

A period is local days ``[start, end)`` (Europe/Stockholm). Sums are done by InfluxDB over the
daily points (one statement per period, ``GROUP BY site``); every figure comes from the same
:class:`Sums` arithmetic, so the site, the ranking and the report agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from api.influxql import ident, series_rows, tag_equals, time_range, where
from api.models import BuildingPerformance, ChangeOut, PeriodKpis, PortfolioTotals, SignatureOut
from api.readings import site_condition
from energy_core import rollups
from energy_core.analysis import BUILDING_KPI, RP, normalised_heat
from energy_core.influx import InfluxClient
from energy_core.registry import Site
from energy_core.signature import fit

MIN_COVERAGE = 0.9  # a year-on-year change needs both periods this complete
SUMMED = (
    "heat_kwh",
    "electricity_kwh",
    "base_kwh",
    "degree_days",
    "normal_degree_days",
    "comfort_low_h",
    "comfort_high_h",
    "co2_high_h",
    "indoor_hours",
)
# Decimals of the answers: kWh to the Wh like the energy endpoints, kWh/m² to 4 places (api/precision.py).
_DECIMALS = {"kwh": 3, "kwh_per_m2": 4, "dd": 2, "h": 2, "pct": 2, "coverage": 4}

SortKey = Literal[
    "kwh_per_m2_normalised",
    "kwh_per_m2",
    "heat_kwh_per_m2_normalised",
    "heat_kwh_per_m2",
    "heat_kwh",
    "heat_normalised_kwh",
    "electricity_kwh",
    "change_actual_pct",
    "change_normalised_pct",
    "comfort_low_h",
    "comfort_high_h",
    "co2_high_h",
]


def _r(kind: str, value: float | None) -> float | None:
    return None if value is None else round(value, _DECIMALS[kind]) + 0.0


@dataclass(frozen=True, slots=True)
class Sums:
    """The summed daily fields of a period (and how many days held a point)."""

    days: int = 0
    heat_kwh: float = 0.0
    electricity_kwh: float = 0.0
    base_kwh: float = 0.0
    degree_days: float = 0.0
    normal_degree_days: float = 0.0
    comfort_low_h: float = 0.0
    comfort_high_h: float = 0.0
    co2_high_h: float = 0.0
    indoor_hours: float = 0.0

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Sums:
        """From a row of sums (``days`` = the count); a null (no day held that field) counts 0."""
        values = {name: float(row[name]) if row.get(name) is not None else 0.0 for name in SUMMED}
        days = row.get("days")
        return cls(days=int(days) if days is not None else 0, **values)

    def __add__(self, other: Sums) -> Sums:
        return Sums(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Sums)))

    @property
    def heat_normalised_kwh(self) -> float:
        return normalised_heat(self.heat_kwh, self.base_kwh, self.degree_days, self.normal_degree_days)

    @property
    def kwh(self) -> float:
        return self.heat_kwh + self.electricity_kwh

    @property
    def kwh_normalised(self) -> float:
        return self.heat_normalised_kwh + self.electricity_kwh


def total(sums: Iterable[Sums]) -> Sums:
    out = Sums()
    for s in sums:
        out = out + s
    return out


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``[start, end)``."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def start_ns(self) -> int:
        return rollups.local_midnight_ns(self.start)

    @property
    def end_ns(self) -> int:
        return rollups.local_midnight_ns(self.end)

    def year_before(self) -> Period:
        return Period(year_before(self.start), self.start)


def year_before(day: dt.date) -> dt.date:
    """The same date a year earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def twelve_months(end: dt.date) -> Period:
    """The 12 months before local day ``end`` (exclusive)."""
    return Period(year_before(end), end)


def per_m2(kwh: float, area: float | None) -> float | None:
    return kwh / area if area else None


def kpis(
    period: Period, sums: Sums, area_m2: float | None, heat_normalised_kwh: float | None = None
) -> PeriodKpis:
    """The KPIs of ``sums`` over ``period``: all null when no day held a point.

    ``heat_normalised_kwh``: given for several buildings (the sum of each one's normalised heat:
    each has its own weather and base load); one building's is normalised from its sums."""
    empty = sums.days == 0
    normalised = sums.heat_normalised_kwh if heat_normalised_kwh is None else heat_normalised_kwh
    kwh_normalised = normalised + sums.electricity_kwh

    def v(kind: str, value: float | None) -> float | None:
        return None if empty else _r(kind, value)

    return PeriodKpis(
        start=period.start,
        end=period.end,
        days=sums.days,
        coverage=round(sums.days / period.days, 4) if period.days else 0.0,
        heat_kwh=v("kwh", sums.heat_kwh),
        heat_normalised_kwh=v("kwh", normalised),
        base_kwh=v("kwh", sums.base_kwh),
        electricity_kwh=v("kwh", sums.electricity_kwh),
        degree_days=v("dd", sums.degree_days),
        normal_degree_days=v("dd", sums.normal_degree_days),
        kwh_per_m2=v("kwh_per_m2", per_m2(sums.kwh, area_m2)),
        kwh_per_m2_normalised=v("kwh_per_m2", per_m2(kwh_normalised, area_m2)),
        heat_kwh_per_m2=v("kwh_per_m2", per_m2(sums.heat_kwh, area_m2)),
        heat_kwh_per_m2_normalised=v("kwh_per_m2", per_m2(normalised, area_m2)),
        comfort_low_h=v("h", sums.comfort_low_h),
        comfort_high_h=v("h", sums.comfort_high_h),
        co2_high_h=v("h", sums.co2_high_h),
        indoor_hours=v("h", sums.indoor_hours),
    )


def _pct(now: float, before: float) -> float | None:
    return _r("pct", (now - before) / before * 100) if before > 0 else None


def change(current: Sums, current_period: Period, previous: Sums, previous_period: Period) -> ChangeOut:
    """Year on year, in percent of the earlier period; null when either is under MIN_COVERAGE."""
    complete = (
        current.days >= MIN_COVERAGE * current_period.days
        and previous.days >= MIN_COVERAGE * previous_period.days
    )
    if not complete:
        return ChangeOut(actual_pct=None, normalised_pct=None)
    return ChangeOut(
        actual_pct=_pct(current.kwh, previous.kwh),
        normalised_pct=_pct(current.kwh_normalised, previous.kwh_normalised),
    )


def signature_of(points: Sequence[tuple[float, float]]) -> SignatureOut | None:
    """The energy signature of ``(outdoor_c, mean_kw)`` day points (energy_core.signature.fit)."""
    found = fit(points)
    if found is None:
        return None
    return SignatureOut(
        base_kw=round(found.base_kw, 3) + 0.0,
        slope_kw_per_k=round(found.slope_kw_per_k, 4) + 0.0,
        balance_c=found.balance_c,
        r2=round(found.r2, 4) + 0.0,
        residual_kw=round(found.residual_kw, 3) + 0.0,
        days=found.days,
    )


def _source(db: str) -> str:
    return rollups.qualified(db, RP, BUILDING_KPI)


def sums_statement(db: str, condition: str, period: Period) -> str:
    """Σ of each summed field per site over ``period`` (``days``: how many days held heat_kwh)."""
    selects = ", ".join(f"sum({ident(f)}) AS {ident(f)}" for f in SUMMED)
    window = time_range(period.start_ns, period.end_ns)
    return (
        f'SELECT {selects}, count("heat_kwh") AS "days" FROM {_source(db)}'  # noqa: S608
        f'{where(condition, window)} GROUP BY "site"'
    )


async def site_sums(influx: InfluxClient, condition: str, periods: Sequence[Period]) -> list[dict[str, Sums]]:
    """Per period (in order), the sums of every site ``condition`` lets through, by site id."""
    results = await influx.query(";".join(sums_statement(influx.db, condition, p) for p in periods))
    out: list[dict[str, Sums]] = [{} for _ in periods]
    for index, result in enumerate(results):
        for _, tags, rows in series_rows([result]):
            site = tags.get("site", "")
            for row in rows:
                out[index][site] = out[index].get(site, Sums()) + Sums.of_row(row)
    return out


async def daily_rows(
    influx: InfluxClient, condition: str, period: Period, names: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The daily points (``names`` fields) of every site ``condition`` lets through, by site id."""
    selects = ", ".join(ident(n) for n in names)
    window = time_range(period.start_ns, period.end_ns)
    statement = (
        f"SELECT {selects} FROM {_source(influx.db)}"  # noqa: S608
        f'{where(condition, window)} GROUP BY "site"'
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for _, tags, rows in series_rows(await influx.query(statement)):
        out.setdefault(tags.get("site", ""), []).extend(rows)
    return out


def signature_points(rows: Iterable[dict[str, Any]]) -> list[tuple[float, float]]:
    """(outdoor °C, mean kW = heat_kwh / 24) of the days holding both (a null is left out)."""
    points = []
    for row in rows:
        heat, outdoor = row.get("heat_kwh"), row.get("outdoor_temp_c")
        if heat is None or outdoor is None:
            continue
        if math.isfinite(float(heat)) and math.isfinite(float(outdoor)):
            points.append((float(outdoor), float(heat) / 24.0))
    return points


def building(
    site: Site,
    current_period: Period,
    current: Sums,
    previous_period: Period,
    previous: Sums,
    signature: SignatureOut | None = None,
) -> BuildingPerformance:
    return BuildingPerformance(
        site=site.id,
        name=site.name,
        owner=site.owner,
        floor_area_m2=site.floor_area_m2,
        current=kpis(current_period, current, site.floor_area_m2),
        previous=kpis(previous_period, previous, site.floor_area_m2),
        change=change(current, current_period, previous, previous_period),
        signature=signature,
    )


async def site_performance(influx: InfluxClient, site: Site, end: dt.date) -> BuildingPerformance:
    """One building over the 12 months before ``end``, against the 12 before those."""
    current_period = twelve_months(end)
    previous_period = current_period.year_before()
    condition = site_condition(site)
    current, previous = await site_sums(influx, condition, (current_period, previous_period))
    rows = await daily_rows(influx, condition, current_period, ("heat_kwh", "outdoor_temp_c"))
    signature = signature_of(signature_points(rows.get(site.id, [])))
    return building(
        site,
        current_period,
        current.get(site.id, Sums()),
        previous_period,
        previous.get(site.id, Sums()),
        signature,
    )


def sort_value(item: BuildingPerformance, key: SortKey) -> float | None:
    if key == "change_actual_pct":
        return item.change.actual_pct
    if key == "change_normalised_pct":
        return item.change.normalised_pct
    value = getattr(item.current, key)
    return None if value is None else float(value)


def ranked(
    items: Sequence[BuildingPerformance], key: SortKey, order: Literal["desc", "asc"]
) -> list[BuildingPerformance]:
    """Sorted by ``key`` (desc: the largest, i.e. the worst, first); nulls last, ties by site id."""
    sign = -1.0 if order == "desc" else 1.0

    def order_key(item: BuildingPerformance) -> tuple[int, float, str]:
        value = sort_value(item, key)
        return (1, 0.0, item.site) if value is None else (0, sign * value, item.site)

    return [replace_rank(item, i + 1) for i, item in enumerate(sorted(items, key=order_key))]


def replace_rank(item: BuildingPerformance, rank: int) -> BuildingPerformance:
    return item.model_copy(update={"rank": rank})


def portfolio(
    sites: Sequence[Site],
    current_period: Period,
    current: dict[str, Sums],
    previous_period: Period,
    previous: dict[str, Sums],
) -> PortfolioTotals:
    """Σ kWh / Σ m² over the sites with a floor area and KPI days in the current period. The
    normalised heat is the sum of each building's own (each has its weather and base load); the
    change is over the buildings whose own change can be given (both years complete), so a
    building added this year does not show as an increase."""
    counted = [s for s in sites if s.floor_area_m2 and current.get(s.id, Sums()).days > 0]
    area = sum(s.floor_area_m2 or 0.0 for s in counted)
    now = [current.get(s.id, Sums()) for s in counted]
    heat, normalised = sum(s.heat_kwh for s in now), sum(s.heat_normalised_kwh for s in now)
    electricity = sum(s.electricity_kwh for s in now)
    both = [
        s
        for s in counted
        if change(current[s.id], current_period, previous.get(s.id, Sums()), previous_period).actual_pct
        is not None
    ]
    moved = ChangeOut(actual_pct=None, normalised_pct=None)
    if both:
        this_year = [current[s.id] for s in both]
        year_before = [previous[s.id] for s in both]
        moved = ChangeOut(
            actual_pct=_pct(sum(s.kwh for s in this_year), sum(s.kwh for s in year_before)),
            normalised_pct=_pct(
                sum(s.kwh_normalised for s in this_year), sum(s.kwh_normalised for s in year_before)
            ),
        )
    return PortfolioTotals(
        buildings=len(counted),
        floor_area_m2=area,
        heat_kwh=_r("kwh", heat) or 0.0,
        heat_normalised_kwh=_r("kwh", normalised) or 0.0,
        electricity_kwh=_r("kwh", electricity) or 0.0,
        kwh_per_m2=_r("kwh_per_m2", per_m2(heat + electricity, area)),
        kwh_per_m2_normalised=_r("kwh_per_m2", per_m2(normalised + electricity, area)),
        change=moved,
        change_buildings=len(both),
        without_floor_area=sorted(s.id for s in sites if s not in counted),
    )


async def owner_performance(
    influx: InfluxClient, owner: str, sites: Sequence[Site], end: dt.date
) -> tuple[list[BuildingPerformance], PortfolioTotals]:
    """Every site of ``owner`` over the 12 months before ``end`` (no signatures), and the totals."""
    current_period = twelve_months(end)
    previous_period = current_period.year_before()
    current, previous = await site_sums(influx, tag_equals("owner", owner), (current_period, previous_period))
    items = [
        building(s, current_period, current.get(s.id, Sums()), previous_period, previous.get(s.id, Sums()))
        for s in sites
    ]
    return items, portfolio(sites, current_period, current, previous_period, previous)
