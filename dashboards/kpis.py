"""InfluxQL over the analysis results (energy_core/analysis.py): daily substation KPIs, fault
findings and building KPIs, one point per site per local day at local midnight in ``rollup_1d``.

A day is in a range when its local midnight is. Over several days the contract's rules apply:
sums for heat, volume and excess flow; ΔT and temperatures weighted by volume,
Σ(x_k · volume_k) / Σvolume_k (InfluxQL cannot sum a product, so a subquery forms the products
per day and the outer query sums them); specific flow Σvolume / (Σheat / 1000); normalised heat
Σbase + (Σheat − Σbase) · Σnormal_degree_days / Σdegree_days. These reads cost one point per
site and day, so they need no range gate.

Open faults: a (site, code) whose latest point in the :data:`OPEN_WINDOW` up to the range's end
is active. 25 h is the longest local day, so the window always holds the latest day's midnight
and the latest analysed day decides; in the first hour of a day (before 02:00 on the day after
the clocks go back) yesterday's active point still counts even when today's analysis no longer
finds the fault; the API, which compares with the site's latest analysed day, closes it at once.
"""

from __future__ import annotations

from dashboards.sources import trailing
from energy_core import analysis

KPI = f'"{analysis.RP}"."{analysis.SUBSTATION_KPI}"'
FAULT = f'"{analysis.RP}"."{analysis.SUBSTATION_FAULT}"'
BUILDING = f'"{analysis.RP}"."{analysis.BUILDING_KPI}"'

OPEN_WINDOW = "25h"
OPEN_WINDOW_S = 25 * 3600

NETWORK_OWNER = '"network" =~ /^$network$/ AND "owner" =~ /^$owner$/'
SITE = '"site" =~ /^$site$/'


def weighted(columns: dict[str, str], where: str, *, by: str = "", sums: tuple[str, ...] = ()) -> str:
    """Volume-weighted means of KPI fields (alias → field) over the days in ``where``, plus
    ``sums`` of fields, grouped ``by``; the heat and volume sums ride along for the ratio."""
    inner = [f'"{field}" * "volume_m3" AS "{alias}_v"' for alias, field in columns.items()]
    inner += [f'"{field}" AS "{field}"' for field in sums]
    inner += ['"volume_m3" AS "v"']
    outer = [f'sum("{alias}_v") / sum("v") AS "{alias}"' for alias in columns]
    outer += [f'sum("{field}") AS "{field}"' for field in sums]
    group = f" GROUP BY {by}" if by else ""
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {KPI} WHERE {where}) "
        f"WHERE $timeFilter{group}"
    )


def ranking_weighted() -> str:
    """Per substation over the range: ΔT and return temperature, volume-weighted.

    InfluxDB 1.x evaluates a subquery once per field the outer query reads (measured: ~2.5 s per
    field for 500 substations × 365 days), so the subquery carries only the products and the
    volume; the plain sums are :func:`ranking_sums`, a second target merged by site.
    """
    return (
        'SELECT sum("dt_v") / sum("v") AS "ΔT", sum("ret_v") / sum("v") AS "return" FROM ('
        'SELECT "delta_t_k" * "volume_m3" AS "dt_v", "return_temp_c" * "volume_m3" AS "ret_v", '
        f'"volume_m3" AS "v" FROM {KPI} WHERE $timeFilter AND {NETWORK_OWNER}) '
        'WHERE $timeFilter GROUP BY "site"'
    )


def ranking_sums() -> str:
    """Per substation over the range: excess flow, specific flow, heat and volume (plain sums)."""
    return (
        'SELECT sum("excess_flow_m3") AS "excess flow", '
        'sum("volume_m3") / (sum("heat_kwh") / 1000) AS "specific flow", '
        'sum("heat_kwh") AS "heat", sum("volume_m3") AS "volume" '
        f'FROM {KPI} WHERE $timeFilter AND {NETWORK_OWNER} GROUP BY "site"'
    )


def open_faults(where: str) -> str:
    """Faults open at the range's end, one row per (site, code, severity) with its evidence."""
    return (
        'SELECT "since_s" * 1000 AS "since", "value", "threshold", "text" FROM ('
        'SELECT last("active") AS "active", last("since_s") AS "since_s", last("value") AS "value", '
        'last("threshold") AS "threshold", last("text") AS "text" '
        f"FROM {FAULT} WHERE {trailing(OPEN_WINDOW)} AND {where} "
        'GROUP BY "site", "code", "severity") WHERE "active" = 1 GROUP BY "site", "code", "severity"'
    )


def open_fault_flags(where: str, by: str) -> str:
    """1 per open (site, code) and 0 per cleared one, grouped ``by`` (for alert rules: the
    latest ``active`` of each (site, code) in the trailing window, summed per group)."""
    return (
        'SELECT sum("active") AS "open" FROM ('
        'SELECT last("active") AS "active" FROM '
        f'{FAULT} WHERE $timeFilter AND {where} GROUP BY {by}, "site", "code") GROUP BY {by}'
    )


def normalised_heat_expression() -> str:
    """InfluxQL for the contract's normalised heat of a period (kWh)."""
    return (
        '(sum("base_kwh") + (sum("heat_kwh") - sum("base_kwh")) * sum("normal_degree_days") '
        '/ sum("degree_days"))'
    )
