"""Substations ranked by their KPIs, per-site KPI series, and fault episodes (issue 15).

Operators see every substation; an owner key only its own sites (another owner's site is a 404
on ``/sites/{id}/…`` and absent from the lists). Periods are Europe/Stockholm local days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Scope
from api.csvexport import CSV_RESPONSE, Dialect, DialectParam, Format, csv_dialect, csv_response, local_time
from api.deps import CurrentScope, ScopedSite, State
from api.errors import bad_request, not_found
from api.influxql import tag_equals
from api.models import (
    FaultEpisodeOut,
    FaultsOut,
    KpiBucket,
    SiteKpisOut,
    SubstationKpis,
    SubstationRow,
    SubstationsOut,
    TrendOut,
)
from api.queryparams import known_query_parameters
from api.readings import scope_condition, site_condition
from api.state import ApiState
from api.substations import (
    DEFAULT_SORT,
    KPI_FIELDS,
    SORT_DEFAULT_ORDER,
    Episode,
    KpiEvery,
    Ranked,
    SiteKey,
    aggregate,
    bucket_start,
    daily_kpis,
    day_start_ns,
    episodes,
    fault_days,
    latest_analysed,
    local_day,
    rank,
)
from api.timerange import LOCAL, TimeRange, now_ns, resolve, to_datetime
from api.trend import MAX_HOURS, bucket_seconds, network_trend, trend_window
from energy_core.analysis import FAULTS
from energy_core.registry import Site
from energy_core.schema import DeviceKind
from energy_core.timeutil import DAY_NS

router = APIRouter(tags=["substations and faults"], dependencies=[Depends(known_query_parameters)])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
_CODE = r"^[a-z_]{1,40}$"
MAX_LIMIT = 1000
MAX_CURSOR = 1_000_000
MAX_RANGE = dt.timedelta(days=400)
KPI_RANGE = dt.timedelta(days=3660)
# Open episodes are looked for in this many trailing days (their start is their since_s, so an
# older beginning still shows).
OPEN_LOOKBACK_DAYS = 35

Start = Annotated[
    dt.datetime | None,
    Query(description="RFC 3339, or a date/time without offset in Europe/Stockholm local time"),
]
End = Annotated[dt.datetime | None, Query(description="exclusive; RFC 3339 or local time; default: now")]
Network = Annotated[str | None, Query(pattern=_ID, description="one district-heating network only")]
Owner = Annotated[str | None, Query(pattern=_ID, description="one owner's sites only")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Cursor = Annotated[int, Query(ge=0, le=MAX_CURSOR, description="`next_cursor` of the previous page")]
Code = Annotated[
    str | None, Query(pattern=_CODE, description="one fault code (energy_core/analysis.py FAULTS)")
]


@dataclass(frozen=True, slots=True)
class Rendition:
    csv_as: Dialect | None


def _rendition(format: Format = "json", dialect: DialectParam = None) -> Rendition:
    return Rendition(csv_dialect(format, dialect))


AsCsv = Annotated[Rendition, Depends(_rendition)]


def _check_code(code: str | None) -> None:
    if code is not None and code not in FAULTS:
        raise bad_request("unknown_fault_code", f"fault code {code!r} is not one of: {', '.join(FAULTS)}")


def substations_in(
    state: ApiState, scope: Scope, network: str | None, owner: str | None
) -> dict[SiteKey, Site]:
    """The visible sites with a heat meter, narrowed by network and owner; 404 for a network or
    owner the key cannot see (as for a site)."""
    registry = state.registry
    if owner is not None and (owner not in registry.owners or not scope.sees(owner)):
        raise not_found("owner", owner)
    visible = [s for s in registry.sites.values() if scope.sees(s.owner)]
    if network is not None and not any(s.network == network for s in visible):
        raise not_found("network", network)
    metered = {d.site for d in registry.devices.values() if d.kind is DeviceKind.HEAT_METER}
    return {
        SiteKey(s.owner, s.id): s
        for s in visible
        if s.id in metered
        and (network is None or s.network == network)
        and (owner is None or s.owner == owner)
    }


def _condition(scope: Scope, network: str | None, owner: str | None) -> str:
    parts = [scope_condition(scope)]
    if owner is not None:
        parts.append(tag_equals("owner", owner))
    if network is not None:
        parts.append(tag_equals("network", network))
    return " AND ".join(p for p in parts if p)


def _period_range(period: KpiEvery, date: dt.date) -> TimeRange:
    """The local days of a period ending with ``date``: that day, the 7 days to it, or the month
    to it (from the day after the same date a month before: a month's last day gives the month)."""
    if period == "day":
        first = date
    elif period == "week":
        first = date - dt.timedelta(days=6)
    else:
        month, year = (date.month - 1, date.year) if date.month > 1 else (12, date.year - 1)
        day = min(date.day, _days_in(year, month))
        first = dt.date(year, month, day) + dt.timedelta(days=1)
    return TimeRange(day_start_ns(first), day_start_ns(date + dt.timedelta(days=1)))


def _check_date(date: dt.date) -> dt.date:
    """A period's last day between 1971 and 2261: its month before and day after are datetimes."""
    if not dt.date(1971, 1, 1) <= date <= dt.date(2261, 12, 31):
        raise bad_request("bad_time", "date must be a local date between 1971 and 2261")
    return date


def _days_in(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def _today() -> dt.date:
    return to_datetime(now_ns(), LOCAL).date()


async def open_faults(state: ApiState, condition: str) -> tuple[list[Episode], dict[SiteKey, dt.date]]:
    """The open fault episodes of the sites matching ``condition``, and each site's latest analysed day."""
    end = day_start_ns(_today() + dt.timedelta(days=2))
    start = day_start_ns(_today() - dt.timedelta(days=OPEN_LOOKBACK_DAYS))
    latest = await latest_analysed(state.influx, condition, start, end)
    found = episodes(await fault_days(state.influx, condition, start, end), latest)
    return [e for e in found if e.open], latest


def _kpis(values: dict[str, float | None]) -> SubstationKpis:
    return SubstationKpis(**values)


@router.get("/network/substations", response_model=SubstationsOut, responses=CSV_RESPONSE)
async def ranked_substations(
    state: State,
    scope: CurrentScope,
    rendition: AsCsv,
    sort: Annotated[
        str, Query(max_length=40, description="a KPI: " + ", ".join(SORT_DEFAULT_ORDER))
    ] = DEFAULT_SORT,
    order: Annotated[
        Literal["asc", "desc"] | None, Query(description="default: worst first for the KPI (ΔT ascending)")
    ] = None,
    period: Annotated[
        KpiEvery | None, Query(description="day, week (7 days) or month ending at date")
    ] = None,
    date: Annotated[dt.date | None, Query(description="the period's last local day; default today")] = None,
    start: Start = None,
    end: End = None,
    network: Network = None,
    owner: Owner = None,
    fault: Annotated[
        str | None, Query(pattern=_CODE, description="`any`: only substations with an open fault; or a code")
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = 0,
) -> SubstationsOut | Response:
    """Substations ranked by a KPI over a period (default: the 7 local days to today, lowest ΔT
    first), with their open faults; filter by network, owner or open fault."""
    if sort not in SORT_DEFAULT_ORDER:
        raise bad_request("bad_sort", f"sort must be one of: {', '.join(SORT_DEFAULT_ORDER)}")
    if fault is not None and fault != "any":
        _check_code(fault)
    if (start is not None or end is not None) and (period is not None or date is not None):
        raise bad_request("period_or_range", "give period (and date) or start/end, not both")
    if start is not None or end is not None:
        window = resolve(start, end, default=dt.timedelta(days=7), limit=MAX_RANGE)
    else:
        window = _period_range(period or "week", _check_date(date or _today()))
    direction = order or SORT_DEFAULT_ORDER[sort]
    sites = substations_in(state, scope, network, owner)
    condition = _condition(scope, network, owner)
    days = await daily_kpis(state.influx, condition, window.start_ns, window.end_ns)
    open_now, _ = await open_faults(state, condition)
    codes: dict[SiteKey, list[str]] = {}
    for episode in open_now:
        codes.setdefault(episode.key, []).append(episode.code)
    rows = [
        Ranked(
            key,
            aggregate([row for _, row in days.get(key, [])]),
            len(days.get(key, [])),
            sorted(set(codes.get(key, []))),
        )
        for key in sites
    ]
    if fault is not None:
        rows = [r for r in rows if r.open_faults and (fault == "any" or fault in r.open_faults)]
    ordered = rank(rows, sort, direction)
    page = ordered[cursor : cursor + limit]
    out_rows = [
        SubstationRow(
            rank=cursor + i + 1,
            site=sites[r.key].id,
            name=sites[r.key].name,
            address=sites[r.key].address,
            owner=sites[r.key].owner,
            network=sites[r.key].network,
            days=r.days,
            kpis=_kpis(r.kpis),
            open_faults=r.open_faults,
        )
        for i, r in enumerate(page)
    ]
    if rendition.csv_as is not None:
        header = ["rank", "site", "name", "address", "owner", "network", "days", *KPI_FIELDS, "open_faults"]
        lines = (
            [r.rank, r.site, r.name, r.address, r.owner, r.network, r.days,
             *(getattr(r.kpis, f) for f in KPI_FIELDS), " ".join(r.open_faults)]
            for r in out_rows
        )  # fmt: skip
        return csv_response(f"substations-{sort}.csv", header, lines, rendition.csv_as)
    return SubstationsOut(
        period=None if start is not None or end is not None else (period or "week"),
        start=window.start,
        end=window.end,
        sort=sort,
        order=direction,
        total=len(ordered),
        rows=out_rows,
        next_cursor=cursor + limit if cursor + limit < len(ordered) else None,
    )


_KPI_DEFAULT = {"day": dt.timedelta(days=30), "week": dt.timedelta(weeks=12), "month": dt.timedelta(days=365)}


@router.get("/sites/{site_id}/kpis", response_model=SiteKpisOut, responses=CSV_RESPONSE)
async def site_kpis(
    state: State,
    site: ScopedSite,
    rendition: AsCsv,
    every: Annotated[
        KpiEvery, Query(description="local day, ISO week (from Monday) or calendar month")
    ] = "day",
    start: Start = None,
    end: End = None,
) -> SiteKpisOut | Response:
    """A substation's KPIs per local day, week or month (aggregated from its days)."""
    window = resolve(
        start, end, default=_KPI_DEFAULT[every], limit=KPI_RANGE, align="month" if every == "month" else "day"
    )
    if start is None and every == "week":  # a default range starts on a Monday: whole weeks
        monday = bucket_start(local_day(window.start_ns), "week")
        window = TimeRange(day_start_ns(monday), window.end_ns)
    days = (await daily_kpis(state.influx, site_condition(site), window.start_ns, window.end_ns)).get(
        SiteKey(site.owner, site.id), []
    )
    grouped: dict[dt.date, list[dict[str, object]]] = {}
    for day, row in days:
        grouped.setdefault(bucket_start(day, every), []).append(row)
    buckets = [
        KpiBucket(start=to_datetime(day_start_ns(first), LOCAL), days=len(rows), kpis=_kpis(aggregate(rows)))
        for first, rows in sorted(grouped.items())
    ]
    if rendition.csv_as is not None:
        header = ["start", "days", *KPI_FIELDS]
        lines = ([local_time(b.start), b.days, *(getattr(b.kpis, f) for f in KPI_FIELDS)] for b in buckets)
        return csv_response(f"{site.id}-kpis-{every}.csv", header, lines, rendition.csv_as)
    return SiteKpisOut(site=site.id, every=every, start=window.start, end=window.end, buckets=buckets)


Severity = Annotated[Literal["critical", "warning"] | None, Query(description="one severity only")]


async def _fault_listing(
    state: ApiState,
    sites: dict[SiteKey, Site],
    condition: str,
    fault_state: Literal["open", "all"],
    start: dt.datetime | None,
    end: dt.datetime | None,
    code: str | None,
    severity: str | None,
    limit: int,
    cursor: int,
    rendition: Rendition,
    filename: str,
) -> FaultsOut | Response:
    _check_code(code)
    default = dt.timedelta(days=OPEN_LOOKBACK_DAYS if fault_state == "open" else 30)
    window = resolve(start, end, default=default, limit=MAX_RANGE, align="day")
    # The latest analysed day may lie after the range: read it up to tomorrow.
    latest = await latest_analysed(
        state.influx, condition, window.start_ns, max(window.end_ns, now_ns() + 2 * DAY_NS)
    )
    found = [
        e
        for e in episodes(await fault_days(state.influx, condition, window.start_ns, window.end_ns), latest)
        if e.key in sites
        and (fault_state == "all" or e.open)
        and (code is None or e.code == code)
        and (severity is None or e.severity == severity)
    ]
    page = [_episode_out(e, sites[e.key]) for e in found[cursor : cursor + limit]]
    if rendition.csv_as is not None:
        header = ["site", "name", "address", "owner", "code", "severity", "start", "end", "open", "days",
                  "last_day", "value", "threshold", "unit", "text"]  # fmt: skip
        lines = (
            [e.site, e.name, e.address, e.owner, e.code, e.severity, local_time(e.start),
             local_time(e.end) if e.end else "", "yes" if e.open else "no", e.days, e.last_day.isoformat(),
             e.value, e.threshold, e.unit, e.text]
            for e in page
        )  # fmt: skip
        return csv_response(filename, header, lines, rendition.csv_as)
    return FaultsOut(
        state=fault_state,
        start=window.start,
        end=window.end,
        total=len(found),
        episodes=page,
        next_cursor=cursor + limit if cursor + limit < len(found) else None,
    )


def _episode_out(e: Episode, site: Site) -> FaultEpisodeOut:
    known = FAULTS.get(e.code)
    end_ns = e.end_ns
    return FaultEpisodeOut(
        site=site.id,
        name=site.name,
        address=site.address,
        owner=site.owner,
        network=site.network,
        code=e.code,
        title=e.title,
        severity=e.severity,
        start=to_datetime(e.start_ns, LOCAL),
        end=to_datetime(end_ns, LOCAL) if end_ns is not None else None,
        open=e.open,
        days=e.days,
        last_day=e.last.day,
        value=e.last.value,
        threshold=e.last.threshold,
        unit=known.unit if known else "",
        text=e.last.text,
    )


@router.get("/faults", response_model=FaultsOut, responses=CSV_RESPONSE)
async def list_faults(
    state: State,
    scope: CurrentScope,
    rendition: AsCsv,
    fault_state: Annotated[
        Literal["open", "all"], Query(alias="state", description="open: still going; all: any in the range")
    ] = "open",
    start: Start = None,
    end: End = None,
    code: Code = None,
    severity: Severity = None,
    owner: Owner = None,
    network: Network = None,
    limit: Limit = 100,
    cursor: Cursor = 0,
) -> FaultsOut | Response:
    """Fault episodes of every substation the key may see (default: open ones, oldest first)."""
    sites = substations_in(state, scope, network, owner)
    condition = _condition(scope, network, owner)
    return await _fault_listing(
        state,
        sites,
        condition,
        fault_state,
        start,
        end,
        code,
        severity,
        limit,
        cursor,
        rendition,
        "faults.csv",
    )


@router.get("/sites/{site_id}/faults", response_model=FaultsOut, responses=CSV_RESPONSE)
async def site_faults(
    state: State,
    site: ScopedSite,
    rendition: AsCsv,
    fault_state: Annotated[
        Literal["open", "all"], Query(alias="state", description="open: still going; all: any in the range")
    ] = "all",
    start: Start = None,
    end: End = None,
    code: Code = None,
    severity: Severity = None,
    limit: Limit = 100,
    cursor: Cursor = 0,
) -> FaultsOut | Response:
    """One substation's fault episodes (default: every episode of the last 30 days)."""
    sites = {SiteKey(site.owner, site.id): site}
    return await _fault_listing(
        state, sites, site_condition(site), fault_state, start, end, code, severity, limit, cursor,
        rendition, f"{site.id}-faults.csv",
    )  # fmt: skip


@router.get("/network/trend", response_model=TrendOut, tags=["network"])
async def network_trend_route(
    state: State,
    scope: CurrentScope,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="how far back")] = 6,
    network: Network = None,
) -> TrendOut:
    """Total heat load and flow-weighted supply/return per bucket (≥ 15 min) over the last hours,
    for the live page's chart; an owner key's own meters only."""
    if network is not None and not any(
        s.network == network and scope.sees(s.owner) for s in state.registry.sites.values()
    ):
        raise not_found("network", network)
    every_s = bucket_seconds(hours)
    window = trend_window(now_ns(), hours, every_s)
    return await network_trend(state.influx, _condition(scope, network, None), window, every_s)
