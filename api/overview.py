"""The network overview: total heat load, volume-weighted supply/return and ΔT, the live emission rate.

The temperatures are weighted by each meter's flow (Σ T·V̇ / ΣV̇), as the utility's bill and its
plant see them: a large building's water counts for more than a small one's, and a meter that
reports often counts no more than one that reports rarely (each meter's newest reading counts
once). A meter that sends no flow weighs by the flow its power needs, V̇ = P / (ρc_p · ΔT)
(ρc_p ≈ 1.145 kWh/(m³·K), water at 50–60 °C, IAPWS-IF97; the ingest's water table). Because
one set of weights serves all three, ΔT is still mean supply − mean return. Without any weight
(no flow, no power, no positive ΔT) the plain mean of the meters is shown.
"""

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
        'SELECT "power_kw", "supply_temp_c", "return_temp_c", "flow_m3h"'
        f" FROM {ident(Measurement.DISTRICT_HEATING)}"
        f"{where(condition, time_range(now - int(fresh_window_s * NS), now + 300 * NS))}"
        ' GROUP BY "device", "network" ORDER BY time DESC LIMIT 1'
    )
    meters = [(tags, rows[0]) for _, tags, rows in series_rows(await influx.query(q)) if rows]
    return summarise(meters, factors, devices_registered, now)


RHO_CP_KWH_PER_M3_K = 1.145  # water at 50–60 °C (IAPWS-IF97): only scales estimated flow


def flow_weight(row: Mapping[str, Any]) -> float | None:
    """The meter's flow in m³/h: sent, or estimated from its power and ΔT; None when unknown."""
    flow = row.get("flow_m3h")
    if isinstance(flow, int | float):
        return max(0.0, float(flow))
    power, supply, ret = row.get("power_kw"), row.get("supply_temp_c"), row.get("return_temp_c")
    if power is None or supply is None or ret is None or float(supply) - float(ret) <= 0:
        return None
    return max(0.0, float(power)) / (RHO_CP_KWH_PER_M3_K * (float(supply) - float(ret)))


def weighted_mean(pairs: list[tuple[float, float | None]]) -> float | None:
    """Σ x·w / Σw over the pairs with a weight; the plain mean when no pair has a positive weight."""
    if not pairs:
        return None
    weighted = [(x, w) for x, w in pairs if w is not None]
    total = sum(w for _, w in weighted)
    if total > 0:
        return sum(x * w for x, w in weighted) / total
    return statistics.fmean(x for x, _ in pairs)


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
    supply: list[tuple[float, float | None]] = []  # (temperature, flow weight)
    returns: list[tuple[float, float | None]] = []
    newest: int | None = None
    reporting = 0
    for tags, row in meters:
        reporting += 1
        newest = max(newest or 0, int(row["time"]))
        weight = flow_weight(row)
        if row.get("supply_temp_c") is not None and row.get("return_temp_c") is not None:
            # Both or neither: one set of weights, so ΔT stays mean supply − mean return.
            supply.append((float(row["supply_temp_c"]), weight))
            returns.append((float(row["return_temp_c"]), weight))
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
    weighted_supply, weighted_return = weighted_mean(supply), weighted_mean(returns)
    mean_supply = rounded("supply_temp_c", weighted_supply) if weighted_supply is not None else None
    mean_return = rounded("return_temp_c", weighted_return) if weighted_return is not None else None
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
