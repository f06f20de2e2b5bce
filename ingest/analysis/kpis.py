"""A substation's KPIs of one local day, from its hourly roll-ups (docs/substations.md). Pure.

Heat and volume come from the meter's registers where they can (they are what the bill uses):
the last reading of the day minus the last reading before it. The walk goes hour by hour, so
that a counter reset or a meter swap (the register falls) or an hour without a register only
costs those hours, which fall back to the readings' integral (mean power or flow × the hour);
``from_registers`` is False when any hour did. Hours without a register between two register
readings are covered by the later reading's delta (the register integrated them), never twice.

ΔT is volume-weighted: E / (V · ρc_p(T_return)), which is what the meter's own integration
does (EN 1434: the flow sensor sits in the return, ρ and c_p at the return temperature).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from energy_core.rollups import day_bounds
from energy_core.signature import Signature, fit
from energy_core.timeutil import HOUR_NS
from ingest.analysis.model import DayKpi, HeatHour, SiteDay
from ingest.analysis.thresholds import Thresholds
from ingest.derive.water import volumetric_heat_kwh_per_m3_k

__all__ = ["day_hours", "day_kpi", "day_length_h", "register_delta"]


@dataclass(frozen=True, slots=True)
class RegisterDelta:
    """What a register moved over a day: the total, per-hour shares, whether registers alone gave it."""

    total: float | None
    per_hour: dict[int, float]  # start_ns → the amount booked to that hour
    from_registers: bool


def day_length_h(day: dt.date) -> float:
    """Hours of the local day: 24, or 23 / 25 on the DST days."""
    start, end = day_bounds(day)
    return (end - start) / HOUR_NS


def day_hours(site_day: SiteDay) -> list[HeatHour]:
    """The site's hours inside its local day (and before ``now_ns``), in time order."""
    start, end = day_bounds(site_day.day)
    end = min(end, site_day.now_ns)
    return sorted((h for h in site_day.hours if start <= h.start_ns < end), key=lambda h: h.start_ns)


def _hour_span_h(hour: HeatHour, now_ns: int) -> float:
    """The part of the hour that has passed (the current hour counts only up to now)."""
    return max(0.0, min(HOUR_NS, now_ns - hour.start_ns)) / HOUR_NS


def register_delta(
    site_day: SiteDay,
    first: Callable[[HeatHour], float | None],
    last: Callable[[HeatHour], float | None],
    rate: Callable[[HeatHour], float | None],
) -> RegisterDelta:
    """The day's movement of one register (energy or volume), hour by hour (see the module doc)."""
    start, _ = day_bounds(site_day.day)
    before = [h for h in site_day.hours if h.start_ns < start and last(h) is not None]
    prev_last = last(max(before, key=lambda h: h.start_ns)) if before else None
    hours = day_hours(site_day)
    per_hour: dict[int, float] = {}
    from_registers = True
    unknown = False

    def fallback(hs: Sequence[HeatHour]) -> None:
        nonlocal from_registers, unknown
        from_registers = False
        for h in hs:
            r = rate(h)
            if r is None:
                if h.count > 0:
                    unknown = True
                continue
            per_hour[h.start_ns] = per_hour.get(h.start_ns, 0.0) + max(0.0, r) * _hour_span_h(
                h, site_day.now_ns
            )

    pending: list[HeatHour] = []
    any_register = False
    for h in hours:
        h_last, h_first = last(h), first(h)
        if h_last is None:
            pending.append(h)
            continue
        any_register = True
        if prev_last is None and h_first is not None and h_first <= h_last and not pending:
            # The meter's first reading in the window: the registers prove only what moved since
            # it (booking the hour's power before it would count energy no register saw).
            per_hour[h.start_ns] = per_hour.get(h.start_ns, 0.0) + (h_last - h_first)
            prev_last = h_last
            continue
        reset = (
            prev_last is None
            or h_last < prev_last
            or (h_first is not None and (h_first < prev_last or h_last < h_first))
        )
        if reset:
            fallback([*pending, h])
        else:
            assert prev_last is not None
            per_hour[h.start_ns] = per_hour.get(h.start_ns, 0.0) + (h_last - prev_last)
        pending = []
        prev_last = h_last
    if not any_register:
        # No register reading at all in the day: the readings' integral for every hour.
        fallback(pending)
    # Trailing hours without a register: the next reading's delta (tomorrow's) books them.
    if not hours or unknown:
        return RegisterDelta(None, per_hour, False)
    return RegisterDelta(sum(per_hour.values()), per_hour, from_registers)


def _weighted(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Σ w·x / Σ w over (x, w) pairs with w > 0; None without weight."""
    total_w = sum(w for _, w in pairs if w > 0)
    if total_w <= 0:
        return None
    return sum(x * w for x, w in pairs if w > 0) / total_w


def deviation_pct(kpi: DayKpi, thresholds: Thresholds) -> float | None:
    """The day's signed deviation from its own signature in %, when outside the band; else None.

    Outside the band: more than ``band_pct`` % and ``min_deviation_kwh`` from the expectation.
    """
    p = thresholds.signature_deviation
    if kpi.heat_kwh is None or kpi.signature_expected_kwh is None or kpi.signature_expected_kwh <= 0:
        return None
    diff = kpi.heat_kwh - kpi.signature_expected_kwh
    pct = 100.0 * diff / kpi.signature_expected_kwh
    if abs(pct) <= p.band_pct or abs(diff) < p.min_deviation_kwh:
        return None
    return pct


def signature_points(site_day: SiteDay, thresholds: Thresholds) -> list[tuple[float, float]]:
    """(outdoor °C, mean load kW) of the history days fit for a signature.

    A day that was outside its own signature's band when it was judged is left out, so that a
    fault (bad control for weeks) does not become the reference it is measured against; such
    days leave the trailing window after its length, and the signature then forms anew.
    """
    points: list[tuple[float, float]] = []
    for kpi in site_day.history:
        if kpi.heat_kwh is None or kpi.outdoor_temp_c is None:
            continue
        if kpi.hours < thresholds.kpi.signature_min_hours and not kpi.from_registers:
            continue
        if deviation_pct(kpi, thresholds) is not None:
            continue
        points.append((kpi.outdoor_temp_c, kpi.heat_kwh / day_length_h(kpi.day)))
    return points


def day_kpi(site_day: SiteDay, thresholds: Thresholds) -> DayKpi:
    """The KPIs of ``site_day.day`` (None where the data do not allow a number; see the module doc)."""
    params = thresholds.kpi
    hours = day_hours(site_day)
    energy = register_delta(
        site_day, lambda h: h.energy_first, lambda h: h.energy_last, lambda h: h.power_mean
    )
    volume = register_delta(
        site_day, lambda h: h.volume_first, lambda h: h.volume_last, lambda h: h.flow_mean
    )
    heat_kwh, volume_m3 = energy.total, volume.total

    # Each hour's weight is the volume that flowed in it: the mean flow × the hour, else the
    # register's share booked to that hour.
    def weight(h: HeatHour) -> float:
        if h.flow_mean is not None:
            return max(0.0, h.flow_mean) * _hour_span_h(h, site_day.now_ns)
        return volume.per_hour.get(h.start_ns, 0.0)

    return_c = _weighted([(h.return_mean, weight(h)) for h in hours if h.return_mean is not None])
    supply_c = _weighted([(h.supply_mean, weight(h)) for h in hours if h.supply_mean is not None])

    delta_t = specific = excess = None
    if heat_kwh is not None and volume_m3 is not None and volume_m3 > 0 and return_c is not None:
        rho_cp = volumetric_heat_kwh_per_m3_k(return_c)
        delta_t = heat_kwh / (volume_m3 * rho_cp)
        excess = max(0.0, volume_m3 - heat_kwh / (rho_cp * params.target_delta_t_k))
    if heat_kwh is not None and volume_m3 is not None and heat_kwh > 0:
        specific = volume_m3 / (heat_kwh / 1000.0)

    powers = [h.power_mean for h in hours if h.power_mean is not None]
    if powers:
        peak: float | None = max(powers)
    else:
        # Without power readings: the largest hourly register delta of an hour that covers one hour.
        shares = [
            v / _hour_span_h(h, site_day.now_ns)
            for h in hours
            if (v := energy.per_hour.get(h.start_ns)) is not None and _hour_span_h(h, site_day.now_ns) > 0
        ]
        peak = max(shares) if shares else None

    with_data = [h for h in hours if h.count > 0]
    kpi = DayKpi(
        day=site_day.day,
        heat_kwh=heat_kwh,
        volume_m3=volume_m3,
        delta_t_k=delta_t,
        return_temp_c=return_c,
        supply_temp_c=supply_c,
        specific_flow_m3_per_mwh=specific,
        excess_flow_m3=excess,
        peak_load_kw=peak,
        outdoor_temp_c=site_day.outdoor_temp_c,
        hours=float(len(with_data)),
        readings=float(sum(h.count for h in with_data)),
        from_registers=energy.from_registers and volume.from_registers,
    )
    return _with_signature(site_day, kpi, thresholds)


def _with_signature(site_day: SiteDay, kpi: DayKpi, thresholds: Thresholds) -> DayKpi:
    """Fit the signature over the history and this day; its expectation for this day.

    The day joins the fit only when it is over and inside the band of the latest signature
    before it (the previous day's stored one, else the history's own fit): an outlying day would
    pull the reference towards itself. One fit per site-day: the analysis of 7,000 substations
    costs 7,000 fits.
    """
    points = signature_points(site_day, thresholds)
    length_h = day_length_h(site_day.day)
    _, end = day_bounds(site_day.day)
    if (
        site_day.now_ns >= end
        and kpi.heat_kwh is not None
        and kpi.outdoor_temp_c is not None
        and (kpi.hours >= thresholds.kpi.signature_min_hours or kpi.from_registers)
    ):
        reference = _stored_signature(site_day.history) or fit(points)
        if reference is None or deviation_pct(_expecting(kpi, reference, length_h), thresholds) is None:
            points.append((kpi.outdoor_temp_c, kpi.heat_kwh / length_h))
    signature = fit(points)
    if signature is None:
        return kpi
    return _expecting(kpi, signature, length_h)


def _stored_signature(history: Sequence[DayKpi]) -> Signature | None:
    """The signature stored with the latest history day (its r² carried; the days it used unknown)."""
    if not history:
        return None
    k = history[-1]
    if k.signature_base_kw is None or k.signature_slope_kw_per_k is None or k.signature_balance_c is None:
        return None
    return Signature(
        base_kw=k.signature_base_kw,
        slope_kw_per_k=k.signature_slope_kw_per_k,
        balance_c=k.signature_balance_c,
        r2=k.signature_r2 if k.signature_r2 is not None else 0.0,
        residual_kw=0.0,
        days=0,
    )


def _expecting(kpi: DayKpi, signature: Signature, length_h: float) -> DayKpi:
    expected = signature.predict_kwh(kpi.outdoor_temp_c, length_h) if kpi.outdoor_temp_c is not None else None
    return dataclasses.replace(
        kpi,
        signature_base_kw=signature.base_kw,
        signature_slope_kw_per_k=signature.slope_kw_per_k,
        signature_balance_c=signature.balance_c,
        signature_r2=signature.r2 if math.isfinite(signature.r2) else None,
        signature_expected_kwh=expected,
    )
