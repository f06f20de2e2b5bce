"""What the substation rules see and say: one site's hours, its recent days, and the findings.

The analysis runner (``ingest/analysis/``) reads these from the roll-ups and the stored daily
KPIs; the KPI formulas and the fault rules (pure functions, no I/O) turn them into a
:class:`DayKpi` and :class:`Finding` s, which the runner writes in the layout of
:mod:`energy_core.analysis`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HeatHour:
    """One UTC hour of a heat meter, from ``rollup_1h.district_heating`` (None: no such reading)."""

    start_ns: int
    count: float  # raw readings in the hour (the largest of the gauges' counts)
    energy_first: float | None = None  # register kWh, first and last reading of the hour
    energy_last: float | None = None
    volume_first: float | None = None  # register m³
    volume_last: float | None = None
    power_mean: float | None = None  # kW
    power_max: float | None = None
    flow_mean: float | None = None  # m³/h
    flow_max: float | None = None
    supply_mean: float | None = None  # °C
    supply_min: float | None = None
    supply_max: float | None = None
    return_mean: float | None = None
    return_min: float | None = None
    return_max: float | None = None
    info_code_last: float | None = None
    info_code_max: float | None = None


@dataclass(frozen=True, slots=True)
class DayKpi:
    """A substation's KPIs of one local day: the fields of ``substation_kpi`` (None: not computable)."""

    day: dt.date
    heat_kwh: float | None
    volume_m3: float | None
    delta_t_k: float | None
    return_temp_c: float | None
    supply_temp_c: float | None
    specific_flow_m3_per_mwh: float | None
    excess_flow_m3: float | None
    peak_load_kw: float | None
    outdoor_temp_c: float | None
    hours: float
    readings: float
    from_registers: bool
    signature_base_kw: float | None = None
    signature_slope_kw_per_k: float | None = None
    signature_balance_c: float | None = None
    signature_r2: float | None = None
    signature_expected_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class SiteDay:
    """Everything the rules need to judge one site on one local day.

    ``hours``: the site's heat-meter hours from the start of the previous local day to the end of
    ``day`` (or ``now_ns``, for today), in time order, hours without readings absent.
    ``history``: the stored KPIs of the trailing window's days before ``day``, in time order.
    ``open_findings``: code → ``since_s`` of the faults active on the previous day (episodes go on).
    """

    site: str
    owner: str
    network: str | None
    day: dt.date
    now_ns: int
    hours: Sequence[HeatHour]
    outdoor_temp_c: float | None  # the day's mean at the nearest weather station
    history: Sequence[DayKpi] = ()
    open_findings: Mapping[str, float] = field(default_factory=dict)
    floor_area_m2: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A fault that fired on the day: a point of ``substation_fault`` with ``active`` = 1."""

    code: str  # one of energy_core.analysis.FAULTS
    since_s: float
    value: float
    threshold: float
    text: str
