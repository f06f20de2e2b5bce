"""The network's recent trend for the live page: total heat load and flow-weighted supply/return
temperatures per time bucket over the last hours (``GET /network/trend``).

Each bucket is the overview's arithmetic (api/overview.py) over the meters' bucket means: load
= Σ mean power, temperatures weighted by each meter's flow (sent, or the flow its power needs).
Buckets are at least 15 minutes and a meter's last mean is carried into buckets it did not
report in (``fill(previous)``), so a meter reporting every 15 minutes does not make the total
dip in the buckets between its readings. Raw points, at most 24 hours: a bounded query.
"""

from __future__ import annotations

from typing import Any

from api.influxql import ident, series_rows, time_range, where
from api.models import TrendOut, TrendPoint
from api.overview import flow_weight, weighted_mean
from api.precision import rounded
from api.timerange import TimeRange, to_datetime
from energy_core.influx import InfluxClient
from energy_core.schema import Measurement
from energy_core.timeutil import NS

MAX_HOURS = 24
MIN_BUCKET_S = 15 * 60
MAX_BUCKETS = 96


def bucket_seconds(hours: int) -> int:
    """15 minutes up to 24 buckets' worth, then whole minutes so there are at most 96."""
    return max(MIN_BUCKET_S, -(-hours * 3600 // MAX_BUCKETS // 60) * 60)


async def network_trend(influx: InfluxClient, condition: str, window: TimeRange, every_s: int) -> TrendOut:
    q = (
        'SELECT mean("power_kw") AS "power_kw", mean("supply_temp_c") AS "supply_temp_c",'  # noqa: S608 (allow-listed names, ints)
        ' mean("return_temp_c") AS "return_temp_c", mean("flow_m3h") AS "flow_m3h"'
        f" FROM {ident(Measurement.DISTRICT_HEATING)}"
        f"{where(condition, time_range(window.start_ns, window.end_ns))}"
        f' GROUP BY time({int(every_s)}s), "device" fill(previous)'
    )
    buckets: dict[int, list[dict[str, Any]]] = {}
    for _, _, rows in series_rows(await influx.query(q)):
        for row in rows:
            if row.get("time") is None or all(row.get(f) is None for f in ("power_kw", "supply_temp_c")):
                continue
            buckets.setdefault(int(row["time"]), []).append(row)
    points = []
    for ts, rows in sorted(buckets.items()):
        load = sum(float(r["power_kw"]) for r in rows if r.get("power_kw") is not None)
        both = [r for r in rows if r.get("supply_temp_c") is not None and r.get("return_temp_c") is not None]
        supply = weighted_mean([(float(r["supply_temp_c"]), flow_weight(r)) for r in both])
        ret = weighted_mean([(float(r["return_temp_c"]), flow_weight(r)) for r in both])
        points.append(
            TrendPoint(
                time=to_datetime(ts),
                heat_load_kw=rounded("power_kw", load),
                supply_temp_c=rounded("supply_temp_c", supply) if supply is not None else None,
                return_temp_c=rounded("return_temp_c", ret) if ret is not None else None,
                meters=len(rows),
            )
        )
    return TrendOut(start=window.start, end=window.end, every_s=every_s, points=points)


def trend_window(now_ns: int, hours: int, every_s: int) -> TimeRange:
    """The last ``hours``, its start on a bucket boundary, its end after the current bucket."""
    step = every_s * NS
    end = (now_ns // step + 1) * step
    return TimeRange(end - hours * 3600 * NS - step, end)
