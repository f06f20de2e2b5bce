"""The network overview: total heat load, mean supply/return, ΔT and the live emission rate."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from api.emissions import FactorSource
from api.influxql import ident, series_rows, time_range, where
from api.models import OverviewOut
from api.precision import rounded
from api.timerange import now_ns, to_datetime
from energy_core.influx import InfluxClient
from energy_core.schema import CARRIER_DISTRICT_HEAT, Measurement
from energy_core.timeutil import NS


async def network_overview(
    influx: InfluxClient,
    factors: FactorSource,
    condition: str,
    devices_registered: int,
    fresh_window_s: float,
) -> OverviewOut:
    """Aggregate the newest reading of each heat meter that reported within ``fresh_window_s``.

    One query: the newest row per device (``ORDER BY time DESC LIMIT 1``), so each meter counts
    once whatever its reporting rate, and a meter silent for longer than the window drops out
    instead of holding its last power value forever.
    """
    now = now_ns()
    q = (
        f'SELECT "power_kw", "supply_temp_c", "return_temp_c" FROM {ident(Measurement.DISTRICT_HEATING)}'
        f"{where(condition, time_range(now - int(fresh_window_s * NS), now + 300 * NS))}"
        ' GROUP BY "device", "network" ORDER BY time DESC LIMIT 1'
    )
    meters = [(tags, rows[0]) for _, tags, rows in series_rows(await influx.query(q)) if rows]
    return summarise(meters, factors, devices_registered, now)


def summarise(
    meters: Iterable[tuple[Mapping[str, str], Mapping[str, Any]]],
    factors: FactorSource,
    devices_registered: int,
    now: int,
) -> OverviewOut:
    """The overview of the newest row of each heat meter (tags, row), as /network/overview and the
    live feed answer it: one meter counts once, a missing factor makes the emission rate unknown."""
    load_kw = 0.0
    emission_kg_h: float | None = 0.0
    supply: list[float] = []
    returns: list[float] = []
    newest: int | None = None
    reporting = 0
    for tags, row in meters:
        reporting += 1
        newest = max(newest or 0, int(row["time"]))
        if row.get("supply_temp_c") is not None:
            supply.append(float(row["supply_temp_c"]))
        if row.get("return_temp_c") is not None:
            returns.append(float(row["return_temp_c"]))
        if row.get("power_kw") is None:
            continue
        power_kw = float(row["power_kw"])
        load_kw += power_kw
        factor = factors.factor_g_per_kwh(CARRIER_DISTRICT_HEAT, tags.get("network") or None, now)
        if factor is None:
            emission_kg_h = None  # a partial sum would understate the rate; say "unknown" instead
        elif emission_kg_h is not None:
            emission_kg_h += power_kw * factor / 1000
    # Rounded as every answer is (api/precision.py); ΔT from the rounded means, so the three agree.
    mean_supply = rounded("supply_temp_c", statistics.fmean(supply)) if supply else None
    mean_return = rounded("return_temp_c", statistics.fmean(returns)) if returns else None
    return OverviewOut(
        total_heat_load_mw=rounded("total_heat_load_mw", load_kw / 1000),
        mean_supply_temp_c=mean_supply,
        mean_return_temp_c=mean_return,
        mean_delta_t_k=rounded("delta_t_k", mean_supply - mean_return)
        if mean_supply is not None and mean_return is not None
        else None,
        emission_rate_kg_per_h=rounded("emission_rate_kg_per_h", emission_kg_h)
        if reporting and emission_kg_h is not None
        else None,
        devices_reporting=reporting,
        devices_registered=devices_registered,
        newest_reading_at=to_datetime(newest) if newest else None,
        age_s=max(0.0, (now - newest) / NS) if newest else None,
        computed_at=to_datetime(now),
    )
