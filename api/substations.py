"""Substation KPIs and fault episodes as the API reads them (issue 15), from the analysis layout
of ``energy_core/analysis.py``: one ``substation_kpi`` and ``substation_fault`` point per site per
Europe/Stockholm local day in ``rollup_1d``, at the day's local midnight.

- Days are aggregated into periods here (pure, :func:`aggregate`), by the contract's rules: sums
  for heat, volume, excess flow and hours; ΔT and the temperatures weighted by each day's volume
  (Σ x·V / ΣV, so a day of little flow weighs little); peak = max; specific flow =
  ΣV / (Σheat / 1000); the outdoor temperature is the mean of the days; the signature's
  coefficients are the latest day's (each day's fit is over a trailing window already) and its
  expected heat is summed.
- Fault points are grouped into episodes (:func:`episodes`): a run of consecutive active local
  days of one (site, code). It starts at ``since_s`` of its first day (the rule's own start of
  the condition, possibly before that day), ends at the end of its last active day, and is open
  (``end`` null) while that last day is the site's latest analysed day. Its evidence (value,
  threshold, text) is its latest day's.

Queries are built from allow-listed names and registry ids only (api/influxql.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from api.influxql import ident, series_rows, time_range, where
from api.timerange import LOCAL, to_datetime, to_ns
from energy_core import rollups
from energy_core.analysis import FAULTS, RP, SUBSTATION_FAULT, SUBSTATION_KPI
from energy_core.influx import InfluxClient
from energy_core.timeutil import NS

KpiEvery = Literal["day", "week", "month"]

# The fields a period of days answers, with their rounding (decimals). Order: the JSON/CSV order.
KPI_DECIMALS: dict[str, int] = {
    "heat_kwh": 3,
    "volume_m3": 3,
    "delta_t_k": 2,
    "return_temp_c": 2,
    "supply_temp_c": 2,
    "specific_flow_m3_per_mwh": 2,
    "excess_flow_m3": 3,
    "peak_load_kw": 3,
    "outdoor_temp_c": 2,
    "hours": 0,
    "readings": 0,
    "from_registers": 3,
    "signature_base_kw": 3,
    "signature_slope_kw_per_k": 3,
    "signature_balance_c": 1,
    "signature_r2": 3,
    "signature_expected_kwh": 3,
}
KPI_FIELDS = tuple(KPI_DECIMALS)
_SUMS = ("heat_kwh", "volume_m3", "excess_flow_m3", "hours", "readings", "signature_expected_kwh")
_BY_VOLUME = ("delta_t_k", "return_temp_c", "supply_temp_c")
_MEANS = ("outdoor_temp_c", "from_registers")
_LATEST = ("signature_base_kw", "signature_slope_kw_per_k", "signature_balance_c", "signature_r2")

# The KPIs a ranking may sort by, each with its default order: the worst first (poor cooling is a
# low ΔT, a high return temperature, much excess or specific flow).
SORT_DEFAULT_ORDER: dict[str, Literal["asc", "desc"]] = {
    "delta_t_k": "asc",
    "return_temp_c": "desc",
    "supply_temp_c": "asc",
    "excess_flow_m3": "desc",
    "specific_flow_m3_per_mwh": "desc",
    "heat_kwh": "desc",
    "volume_m3": "desc",
    "peak_load_kw": "desc",
    "hours": "asc",
    "outdoor_temp_c": "asc",
    "signature_r2": "asc",
    "signature_slope_kw_per_k": "desc",
}
DEFAULT_SORT = "delta_t_k"
_FAULT_SELECT = ("active", "since_s", "value", "threshold", "text")


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def local_day(ts_ns: int) -> dt.date:
    """The Europe/Stockholm local date of a point (analysis points sit at local midnight)."""
    return to_datetime(ts_ns, LOCAL).date()


def day_start_ns(day: dt.date) -> int:
    """The local midnight starting ``day``, as UTC ns (23- and 25-hour days included)."""
    return to_ns(dt.datetime(day.year, day.month, day.day))


def _rounded(name: str, value: float | None) -> float | None:
    return None if value is None else round(value, KPI_DECIMALS[name]) + 0.0


def aggregate(days: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The KPIs of a period from its daily rows (each a field → value mapping, oldest first);
    a field no day holds is None. Rounded to each field's decimals."""
    out: dict[str, float | None] = {}
    for name in _SUMS:
        values = [v for d in days if (v := _float(d.get(name))) is not None]
        out[name] = sum(values) if values else None
    for name in _BY_VOLUME:
        pairs = [
            (x, vol)
            for d in days
            if (x := _float(d.get(name))) is not None and (vol := _float(d.get("volume_m3"))) is not None
        ]
        weight = sum(vol for _, vol in pairs)
        out[name] = sum(x * vol for x, vol in pairs) / weight if weight > 0 else None
    for name in _MEANS:
        values = [v for d in days if (v := _float(d.get(name))) is not None]
        out[name] = sum(values) / len(values) if values else None
    peaks = [v for d in days if (v := _float(d.get("peak_load_kw"))) is not None]
    out["peak_load_kw"] = max(peaks) if peaks else None
    heat, volume = out["heat_kwh"], out["volume_m3"]
    out["specific_flow_m3_per_mwh"] = (
        volume / (heat / 1000) if heat and heat > 0 and volume is not None else None
    )
    for name in _LATEST:
        latest = [v for d in days if (v := _float(d.get(name))) is not None]
        out[name] = latest[-1] if latest else None
    return {name: _rounded(name, out.get(name)) for name in KPI_FIELDS}


def bucket_start(day: dt.date, every: KpiEvery) -> dt.date:
    """The first local day of the day, ISO week (Monday) or calendar month holding ``day``."""
    if every == "week":
        return day - dt.timedelta(days=day.weekday())
    if every == "month":
        return day.replace(day=1)
    return day


@dataclass(frozen=True, slots=True)
class SiteKey:
    owner: str
    site: str


def _kpi_statement(db: str, condition: str, start_ns: int, end_ns: int) -> str:
    fields = ", ".join(ident(f) for f in KPI_FIELDS)
    source = rollups.qualified(db, RP, SUBSTATION_KPI)
    return (
        f"SELECT {fields} FROM {source}{where(condition, time_range(start_ns, end_ns))}"  # noqa: S608 (allow-listed names, ints)
        ' GROUP BY "owner", "site"'
    )


async def daily_kpis(
    influx: InfluxClient, condition: str, start_ns: int, end_ns: int
) -> dict[SiteKey, list[tuple[dt.date, dict[str, Any]]]]:
    """The daily KPI rows of every site matching ``condition`` in ``[start_ns, end_ns)``, oldest first."""
    found: dict[SiteKey, list[tuple[dt.date, dict[str, Any]]]] = {}
    results = await influx.query(_kpi_statement(influx.db, condition, start_ns, end_ns))
    for _, tags, rows in series_rows(results):
        key = SiteKey(tags.get("owner", ""), tags.get("site", ""))
        days = found.setdefault(key, [])
        days.extend((local_day(int(row["time"])), row) for row in rows if row.get("time") is not None)
    for days in found.values():
        days.sort(key=lambda d: d[0])
    return found


async def latest_analysed(
    influx: InfluxClient, condition: str, start_ns: int, end_ns: int
) -> dict[SiteKey, dt.date]:
    """The latest analysed local day of each site (a KPI or fault point, active or cleared)."""
    latest: dict[SiteKey, dt.date] = {}
    for measurement, fld in ((SUBSTATION_KPI, "hours"), (SUBSTATION_FAULT, "active")):
        source = rollups.qualified(influx.db, RP, measurement)
        q = (
            f"SELECT last({ident(fld)}) AS {ident(fld)} FROM {source}"  # noqa: S608 (allow-listed names, ints)
            f'{where(condition, time_range(start_ns, end_ns))} GROUP BY "owner", "site"'
        )
        for _, tags, rows in series_rows(await influx.query(q)):
            for row in rows:
                if row.get("time") is None:
                    continue
                key = SiteKey(tags.get("owner", ""), tags.get("site", ""))
                day = local_day(int(row["time"]))
                if key not in latest or day > latest[key]:
                    latest[key] = day
    return latest


@dataclass(frozen=True, slots=True)
class FaultDay:
    day: dt.date
    active: bool
    since_s: float | None
    value: float | None
    threshold: float | None
    text: str


@dataclass(slots=True)
class Episode:
    """Consecutive active days of one (site, code)."""

    key: SiteKey
    code: str
    severity: str
    first: FaultDay
    last: FaultDay
    days: int = 1
    open: bool = False

    @property
    def start_ns(self) -> int:
        """``since_s`` of the first day (when the rule saw the condition begin), else its midnight."""
        if self.first.since_s is not None:
            return int(self.first.since_s * NS)
        return day_start_ns(self.first.day)

    @property
    def end_ns(self) -> int | None:
        """The end of the last active day, or None while the episode is open."""
        return None if self.open else day_start_ns(self.last.day + dt.timedelta(days=1))

    @property
    def title(self) -> str:
        known = FAULTS.get(self.code)
        return known.title if known else self.code


async def fault_days(
    influx: InfluxClient, condition: str, start_ns: int, end_ns: int
) -> dict[tuple[SiteKey, str, str], list[FaultDay]]:
    """The fault points in range by (site, code, severity), oldest first."""
    fields = ", ".join(ident(f) for f in _FAULT_SELECT)
    source = rollups.qualified(influx.db, RP, SUBSTATION_FAULT)
    q = (
        f"SELECT {fields} FROM {source}{where(condition, time_range(start_ns, end_ns))}"  # noqa: S608 (allow-listed names, ints)
        ' GROUP BY "owner", "site", "code", "severity"'
    )
    found: dict[tuple[SiteKey, str, str], list[FaultDay]] = {}
    for _, tags, rows in series_rows(await influx.query(q)):
        key = (
            SiteKey(tags.get("owner", ""), tags.get("site", "")),
            tags.get("code", ""),
            tags.get("severity", ""),
        )
        found.setdefault(key, []).extend(
            FaultDay(
                day=local_day(int(row["time"])),
                active=(_float(row.get("active")) or 0.0) >= 0.5,
                since_s=_float(row.get("since_s")),
                value=_float(row.get("value")),
                threshold=_float(row.get("threshold")),
                text=str(row.get("text") or ""),
            )
            for row in rows
            if row.get("time") is not None
        )
    for days in found.values():
        days.sort(key=lambda d: d.day)
    return found


def episodes(
    days_by_series: Mapping[tuple[SiteKey, str, str], Sequence[FaultDay]],
    latest: Mapping[SiteKey, dt.date],
) -> list[Episode]:
    """Runs of consecutive active days; open when the run's last day is the site's latest analysed
    day (or later: a fault written before its day's KPIs)."""
    found: list[Episode] = []
    for (key, code, severity), days in days_by_series.items():
        current: Episode | None = None
        for day in days:
            if not day.active:
                current = None
                continue
            if current is not None and day.day == current.last.day + dt.timedelta(days=1):
                current.last = day
                current.days += 1
                continue
            current = Episode(key, code, severity or _severity(code), day, day)
            found.append(current)
    for episode in found:
        newest = latest.get(episode.key)
        episode.open = newest is None or episode.last.day >= newest
    found.sort(key=lambda e: (e.start_ns, e.key.site, e.code))
    return found


def _severity(code: str) -> str:
    known = FAULTS.get(code)
    return known.severity if known else "warning"


@dataclass(frozen=True, slots=True)
class Ranked:
    """One substation of a ranking: its site key, aggregated KPIs and open fault codes."""

    key: SiteKey
    kpis: dict[str, float | None]
    days: int
    open_faults: list[str] = field(default_factory=list)


def rank(rows: Iterable[Ranked], sort: str, order: Literal["asc", "desc"]) -> list[Ranked]:
    """Sorted by ``sort`` in ``order``; sites without that KPI last, ties by site id."""
    with_value = [r for r in rows if r.kpis.get(sort) is not None]
    without = sorted((r for r in rows if r.kpis.get(sort) is None), key=lambda r: r.key.site)
    sign = 1.0 if order == "asc" else -1.0
    with_value.sort(key=lambda r: (sign * (r.kpis[sort] or 0.0), r.key.site))
    return [*with_value, *without]
