"""The roll-up layout (issue 14): retention policies, fields, and the InfluxQL that builds and reads them.

This module is the ONE place that knows how roll-ups look; ingest maintains them with the
builders below (``ingest/rollup/``), the API and the dashboards read them with :func:`source`
and the field expressions. Everything here is pure (no I/O) and builds InfluxQL only from the
allow-listed names of :mod:`energy_core.schema`. Layout (docs/rollups.md):

- raw points stay in the database's DEFAULT retention policy; ``rollup_1h`` holds UTC hours
  (Stockholm's offset is whole hours, so these are local hours too) and ``rollup_1d``
  Europe/Stockholm local days (23 h / 25 h on DST days); a point's time is its bucket's start.
- per series (the raw tag set), per raw field ``f``:

  ======================  ============================================================
  gauge                   ``f_sum``, ``f_count``, ``f_min``, ``f_max``, ``f_mean``
  register                ``f_last``, ``f_first``
  summed (energy kWh,     ``f`` (the sum over the bucket, so a sum over roll-ups is a
  emissions kg CO2e)      sum over raw) and ``count``
  code (``info_code``)    ``f_last``, ``f_max``
  ======================  ============================================================

  The mean over a span of buckets is sum(``f_sum``) / sum(``f_count``): exact, unlike a mean of
  means. Every roll-up field is a float (counts too: one type per field across writes).
- across sites: ``energy_total`` (tags owner, network, carrier; field ``kwh``) and
  ``emissions_total`` (tags owner, network, carrier, method; field ``co2e_kg``) in both roll-up
  RPs; ``network`` reads as "" where the sites have none (a tag cannot be written empty).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from energy_core.schema import MEASUREMENT_OF_KIND, QUANTITIES, Measurement
from energy_core.timeutil import DAY_NS, HOUR_NS, NS

ZONE_NAME = "Europe/Stockholm"
ZONE = ZoneInfo(ZONE_NAME)

RP_1H = "rollup_1h"
RP_1D = "rollup_1d"
ROLLUP_RPS = (RP_1H, RP_1D)

ENERGY_TOTAL = "energy_total"
EMISSIONS_TOTAL = "emissions_total"
TOTAL_MEASUREMENTS = (ENERGY_TOTAL, EMISSIONS_TOTAL)

# Registers are cumulative meter readings: their canonical unit is an amount (kWh, m³), never a
# rate (kW, m³/h). A code is a status word: its last and largest values mean something, a sum
# or mean does not.
REGISTER_UNITS = frozenset({"kWh", "m3"})
CODE_FIELDS = frozenset({"info_code"})

# The derived measurements' fields (ingest/derive/deriver.py writes them): the summed ones and
# the gauges next to them.
_DERIVED_SUMS: dict[str, tuple[str, ...]] = {
    Measurement.ENERGY.value: ("kwh",),
    Measurement.EMISSIONS.value: ("co2e_kg",),
}
_DERIVED_GAUGES: dict[str, tuple[str, ...]] = {
    Measurement.ENERGY.value: (),
    Measurement.EMISSIONS.value: ("factor_g_per_kwh",),
}
COUNT_FIELD = "count"  # of a summed measurement: how many raw points went into the bucket


def _fields_of(measurement: Measurement) -> tuple[str, ...]:
    return tuple(
        q.field
        for q in QUANTITIES.values()
        if any(MEASUREMENT_OF_KIND[kind] is measurement for kind in q.kinds)
    )


def _layout() -> tuple[
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
]:
    gauges: dict[str, tuple[str, ...]] = {}
    registers: dict[str, tuple[str, ...]] = {}
    sums: dict[str, tuple[str, ...]] = {}
    codes: dict[str, tuple[str, ...]] = {}
    units = {q.field: q.unit for q in QUANTITIES.values()}
    for measurement in Measurement:
        name = measurement.value
        if name in _DERIVED_SUMS:
            gauges[name], registers[name] = _DERIVED_GAUGES[name], ()
            sums[name], codes[name] = _DERIVED_SUMS[name], ()
            continue
        fields = _fields_of(measurement)
        registers[name] = tuple(f for f in fields if units[f] in REGISTER_UNITS)
        codes[name] = tuple(f for f in fields if f in CODE_FIELDS)
        gauges[name] = tuple(f for f in fields if f not in registers[name] and f not in codes[name])
        sums[name] = ()
    return gauges, registers, sums, codes


GAUGE_FIELDS, REGISTER_FIELDS, SUM_FIELDS, CODE_FIELDS_OF = _layout()
"""Per raw measurement name: its gauge, register, summed and code fields."""

MEASUREMENTS: tuple[str, ...] = tuple(m.value for m in Measurement)
"""Every raw measurement that has roll-ups (all of them)."""

TOTAL_TAGS: dict[str, tuple[str, ...]] = {
    ENERGY_TOTAL: ("owner", "network", "carrier"),
    EMISSIONS_TOTAL: ("owner", "network", "carrier", "method"),
}
TOTAL_OF: dict[str, str] = {
    ENERGY_TOTAL: Measurement.ENERGY.value,
    EMISSIONS_TOTAL: Measurement.EMISSIONS.value,
}
"""Each across-site measurement and the per-series roll-up it sums."""
TOTAL_FIELDS: dict[str, tuple[str, ...]] = {ENERGY_TOTAL: ("kwh",), EMISSIONS_TOTAL: ("co2e_kg",)}


DEFAULT_RAW_RETENTION_DAYS = 430  # the API's 400-day raw range plus a month of margin
DEFAULT_ROLLUP_RETENTION_DAYS = 3660  # ten years; 0 = infinite
# Shard group durations of the roll-up policies: their points are few (one per series and bucket),
# so long shard groups keep the shard count (files, open handles) small over ten years.
ROLLUP_SHARD_DAYS = {RP_1H: 30, RP_1D: 365}


def q(name: str) -> str:
    """A double-quoted InfluxQL identifier (names here come from the schema, never from a caller)."""
    if not name or '"' in name or "\\" in name or "\n" in name:
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


def qualified(db: str, rp: str | None, measurement: str) -> str:
    """``"db"."rp"."measurement"``; ``rp`` None is the database's default (raw) policy: ``"db".."m"``."""
    return f"{q(db)}.{q(rp) if rp else ''}.{q(measurement)}"


# -- the roll-up fields -------------------------------------------------------------------------


def rollup_fields(measurement: str) -> tuple[str, ...]:
    """Every field the roll-ups of ``measurement`` carry, in a fixed order."""
    out: list[str] = []
    for f in GAUGE_FIELDS[measurement]:
        out.extend((f"{f}_sum", f"{f}_count", f"{f}_min", f"{f}_max", f"{f}_mean"))
    for f in REGISTER_FIELDS[measurement]:
        out.extend((f"{f}_last", f"{f}_first"))
    for f in CODE_FIELDS_OF[measurement]:
        out.extend((f"{f}_last", f"{f}_max"))
    if SUM_FIELDS[measurement]:
        out.extend((*SUM_FIELDS[measurement], COUNT_FIELD))
    return tuple(out)


def _hourly_select(measurement: str) -> str:
    """Roll-up fields computed from raw points (each gauge's ``f_mean`` is ``f_sum / f_count``,
    computed by the caller: one aggregate fewer per gauge for InfluxDB to evaluate)."""
    parts: list[str] = []
    for f in GAUGE_FIELDS[measurement]:
        parts.append(
            f"sum({q(f)}) AS {q(f + '_sum')}, count({q(f)}) AS {q(f + '_count')}, "
            f"min({q(f)}) AS {q(f + '_min')}, max({q(f)}) AS {q(f + '_max')}"
        )
    for f in REGISTER_FIELDS[measurement]:
        parts.append(f"last({q(f)}) AS {q(f + '_last')}, first({q(f)}) AS {q(f + '_first')}")
    for f in CODE_FIELDS_OF[measurement]:
        parts.append(f"last({q(f)}) AS {q(f + '_last')}, max({q(f)}) AS {q(f + '_max')}")
    sums = SUM_FIELDS[measurement]
    for f in sums:
        parts.append(f"sum({q(f)}) AS {q(f)}")
    if sums:
        parts.append(f"count({q(sums[0])}) AS {q(COUNT_FIELD)}")
    return ", ".join(parts)


def _daily_select(measurement: str) -> str:
    """Roll-up fields computed from ``rollup_1h`` (the mean is recomputed by the caller: sum/count)."""
    parts: list[str] = []
    for f in GAUGE_FIELDS[measurement]:
        s, c, lo, hi = (q(f"{f}_{k}") for k in ("sum", "count", "min", "max"))
        parts.append(f"sum({s}) AS {s}, sum({c}) AS {c}, min({lo}) AS {lo}, max({hi}) AS {hi}")
    for f in REGISTER_FIELDS[measurement]:
        last, first = q(f + "_last"), q(f + "_first")
        parts.append(f"last({last}) AS {last}, first({first}) AS {first}")
    for f in CODE_FIELDS_OF[measurement]:
        last, hi = q(f + "_last"), q(f + "_max")
        parts.append(f"last({last}) AS {last}, max({hi}) AS {hi}")
    for f in SUM_FIELDS[measurement]:
        parts.append(f"sum({q(f)}) AS {q(f)}")
    if SUM_FIELDS[measurement]:
        parts.append(f"sum({q(COUNT_FIELD)}) AS {q(COUNT_FIELD)}")
    return ", ".join(parts)


def hourly_query(measurement: str, start_ns: int, end_ns: int, *, db: str) -> str:
    """The hourly roll-up rows of ``measurement`` for the whole hours in [start, end), from raw.

    One row per series and hour that has points; the row's time is the hour's start. The caller
    adds each gauge's ``f_mean`` = ``f_sum / f_count`` (:func:`with_means`).
    """
    _check_hours(start_ns, end_ns)
    return (
        f"SELECT {_hourly_select(measurement)} FROM {qualified(db, None, measurement)}"  # noqa: S608 (schema names, ints)
        f" WHERE time >= {int(start_ns)} AND time < {int(end_ns)} GROUP BY time(1h), * fill(none)"
    )


def daily_query(measurement: str, day: dt.date, *, db: str) -> str:
    """The daily roll-up row of each series of ``measurement`` on local ``day``, from ``rollup_1h``.

    No ``GROUP BY time``: the day's bounds are explicit (23 h or 25 h on DST days), so the answer
    does not depend on how the server handles ``tz()``; the caller stamps rows with the day's start
    (:func:`day_bounds`) and adds each gauge's ``f_mean`` (:func:`with_means`).
    """
    start_ns, end_ns = day_bounds(day)
    return (
        f"SELECT {_daily_select(measurement)} FROM {qualified(db, RP_1H, measurement)}"  # noqa: S608 (schema names, ints)
        f" WHERE time >= {start_ns} AND time < {end_ns} GROUP BY *"
    )


def total_hourly_query(total: str, start_ns: int, end_ns: int, *, db: str) -> str:
    """The across-site sums of ``total`` for the hours in [start, end), from the per-series ``rollup_1h``."""
    _check_hours(start_ns, end_ns)
    field = TOTAL_FIELDS[total][0]
    tags = ", ".join(q(t) for t in TOTAL_TAGS[total])
    return (
        f"SELECT sum({q(field)}) AS {q(field)} FROM {qualified(db, RP_1H, TOTAL_OF[total])}"  # noqa: S608 (schema names, ints)
        f" WHERE time >= {int(start_ns)} AND time < {int(end_ns)} GROUP BY time(1h), {tags} fill(none)"
    )


def total_daily_query(total: str, day: dt.date, *, db: str) -> str:
    """The across-site sums of ``total`` on local ``day``, from the per-series ``rollup_1d``."""
    start_ns, end_ns = day_bounds(day)
    field = TOTAL_FIELDS[total][0]
    tags = ", ".join(q(t) for t in TOTAL_TAGS[total])
    return (
        f"SELECT sum({q(field)}) AS {q(field)} FROM {qualified(db, RP_1D, TOTAL_OF[total])}"  # noqa: S608 (schema names, ints)
        f" WHERE time >= {start_ns} AND time < {end_ns} GROUP BY {tags}"
    )


def with_means(measurement: str, fields: dict[str, float]) -> dict[str, float]:
    """Add each gauge's ``f_mean`` = ``f_sum / f_count`` to a roll-up row's fields (in place)."""
    for f in GAUGE_FIELDS[measurement]:
        count = fields.get(f"{f}_count")
        total = fields.get(f"{f}_sum")
        if count and total is not None:
            fields[f"{f}_mean"] = total / count
    return fields


def _check_hours(start_ns: int, end_ns: int) -> None:
    if start_ns % HOUR_NS or end_ns % HOUR_NS or end_ns <= start_ns:
        raise ValueError("an hourly roll-up range is whole UTC hours, start before end")


# -- time buckets ---------------------------------------------------------------------------------


def hour_of(ts_ns: int) -> int:
    """The start (ns) of the UTC hour holding ``ts_ns``."""
    return ts_ns - ts_ns % HOUR_NS


def local_day_of(ts_ns: int) -> dt.date:
    """The Europe/Stockholm calendar day holding ``ts_ns``."""
    return dt.datetime.fromtimestamp(ts_ns // NS, ZONE).date()  # day bounds are whole seconds


def local_midnight_ns(day: dt.date) -> int:
    """Local midnight starting ``day`` in Europe/Stockholm, in ns (Sweden never moves clocks at midnight)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=ZONE).timestamp()) * NS


def day_bounds(day: dt.date) -> tuple[int, int]:
    """[start, end) of local ``day`` in ns: 24 hours, 23 on the spring DST day, 25 on the autumn one."""
    return local_midnight_ns(day), local_midnight_ns(day + dt.timedelta(days=1))


def days_of_hours(hours_ns: Iterable[int]) -> set[dt.date]:
    """The local days that hold the given UTC hour starts."""
    return {local_day_of(h) for h in hours_ns}


def hour_runs(hours_ns: Iterable[int], max_hours: int = 24 * 7) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges covering the given hour starts, each at most ``max_hours`` long."""
    runs: list[tuple[int, int]] = []
    for hour in sorted(set(hours_ns)):
        if runs and runs[-1][1] == hour and (hour - runs[-1][0]) < max_hours * HOUR_NS:
            runs[-1] = (runs[-1][0], hour + HOUR_NS)
        else:
            runs.append((hour, hour + HOUR_NS))
    return runs


# -- reading (API, dashboards) ------------------------------------------------------------------

Aggregate = Literal["mean", "sum", "min", "max", "count", "first", "last", "spread"]


def rp_for(every_ns: int, *, local_days: bool = True) -> str | None:
    """The retention policy that answers ``GROUP BY time(every)`` exactly; None = raw.

    Whole local days (and weeks, months, years built from them) read ``rollup_1d``; this holds
    only when the query's buckets are local days (``tz('Europe/Stockholm')``, as the API's
    are), so ``local_days=False`` (UTC days) falls back to ``rollup_1h``. Whole hours read
    ``rollup_1h``; anything finer reads raw.
    """
    if every_ns <= 0:
        raise ValueError("every must be positive")
    if local_days and every_ns % DAY_NS == 0:
        return RP_1D
    if every_ns % HOUR_NS == 0:
        return RP_1H
    return None


def source(measurement: str, every_ns: int, *, db: str, local_days: bool = True) -> str:
    """The qualified FROM target for buckets of ``every_ns``.

    ``"energy"."rollup_1d"."energy"``, ``"energy"."rollup_1h"."energy"`` or raw ``"energy".."energy"``.
    """
    return qualified(db, rp_for(every_ns, local_days=local_days), measurement)


def field_kind(measurement: str, field: str) -> Literal["gauge", "register", "sum", "code"]:
    """What kind of raw field ``field`` of ``measurement`` is (KeyError if it has no roll-up)."""
    if field in GAUGE_FIELDS[measurement]:
        return "gauge"
    if field in REGISTER_FIELDS[measurement]:
        return "register"
    if field in SUM_FIELDS[measurement]:
        return "sum"
    if field in CODE_FIELDS_OF[measurement]:
        return "code"
    raise KeyError(f"{measurement} has no field {field!r}")


def raw_expression(field: str, aggregate: Aggregate) -> str:
    """``aggregate("field")`` over raw points (the answer the roll-up expression equals)."""
    return f"{aggregate}({q(field)})"


def rollup_expression(measurement: str, field: str, aggregate: Aggregate) -> str | None:
    """The InfluxQL over a roll-up RP that equals ``aggregate(field)`` over raw, or None if there is none.

    gauge: mean = sum(f_sum)/sum(f_count), sum = sum(f_sum), count = sum(f_count), min = min(f_min),
    max = max(f_max), spread = max(f_max) - min(f_min); register: last = last(f_last),
    first = first(f_first); summed (kwh, co2e_kg): sum = sum(f), count = sum(count);
    code: last, max. Anything else (median, a mean of a register, …) has no exact roll-up: read raw.
    """
    kind = field_kind(measurement, field)
    f = field
    if kind == "gauge":
        return {
            "mean": f"sum({q(f + '_sum')}) / sum({q(f + '_count')})",
            "sum": f"sum({q(f + '_sum')})",
            "count": f"sum({q(f + '_count')})",
            "min": f"min({q(f + '_min')})",
            "max": f"max({q(f + '_max')})",
            "spread": f"max({q(f + '_max')}) - min({q(f + '_min')})",
        }.get(aggregate)
    if kind == "register":
        return {"last": f"last({q(f + '_last')})", "first": f"first({q(f + '_first')})"}.get(aggregate)
    if kind == "sum":
        return {"sum": f"sum({q(f)})", "count": f"sum({q(COUNT_FIELD)})"}.get(aggregate)
    return {"last": f"last({q(f + '_last')})", "max": f"max({q(f + '_max')})"}.get(aggregate)


@dataclass(frozen=True, slots=True)
class Read:
    """How to compute ``aggregate(field)`` in buckets of ``every``: the FROM target and the expression."""

    source: str
    expression: str
    rp: str | None  # None: raw


def read(
    measurement: str, field: str, aggregate: Aggregate, every_ns: int, *, db: str, local_days: bool = True
) -> Read:
    """The cheapest exact way to read ``aggregate(field)`` in buckets of ``every_ns``: a roll-up if one
    answers it exactly, else raw. ``SELECT {expression} AS … FROM {source} WHERE … GROUP BY time(every)``."""
    rp = rp_for(every_ns, local_days=local_days)
    if rp is not None:
        expression = rollup_expression(measurement, field, aggregate)
        if expression is not None:
            return Read(qualified(db, rp, measurement), expression, rp)
    return Read(qualified(db, None, measurement), raw_expression(field, aggregate), None)


# -- retention policies ---------------------------------------------------------------------------


def duration(days: float) -> str:
    """An InfluxQL duration of whole hours for ``days``; 0 is infinite (``INF``)."""
    if days < 0:
        raise ValueError("a retention period is not negative")
    return "INF" if days == 0 else f"{max(1, round(days * 24))}h"


def _shard(rp: str, days: float) -> str:
    shard_days = ROLLUP_SHARD_DAYS[rp] if days == 0 else min(ROLLUP_SHARD_DAYS[rp], days)
    return f"{max(1, round(shard_days * 24))}h"


def create_rollup_policy(db: str, rp: str, days: float) -> str:
    """``CREATE RETENTION POLICY`` of roll-up policy ``rp`` (an existing one with other options: alter)."""
    return (
        f"CREATE RETENTION POLICY {q(rp)} ON {q(db)} DURATION {duration(days)} REPLICATION 1"
        f" SHARD DURATION {_shard(rp, days)}"
    )


def alter_rollup_policy(db: str, rp: str, days: float) -> str:
    """``ALTER RETENTION POLICY`` of an existing roll-up policy ``rp`` to ``days``."""
    return (
        f"ALTER RETENTION POLICY {q(rp)} ON {q(db)} DURATION {duration(days)}"
        f" SHARD DURATION {_shard(rp, days)}"
    )


def alter_raw_policy(db: str, rp: str, days: float) -> str:
    """``ALTER RETENTION POLICY`` of the default (raw) policy ``rp`` to ``days`` (shard duration kept)."""
    return f"ALTER RETENTION POLICY {q(rp)} ON {q(db)} DURATION {duration(days)}"
