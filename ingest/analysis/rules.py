"""The substation fault rules: one site-day in, the faults that fired out (docs/substations.md). Pure.

Every rule of :data:`energy_core.analysis.FAULTS` is here; each either fires with its evidence
(``value`` against ``threshold``, one sentence of ``text``) or stays silent. A rule that lacks the
data it judges does not fire: a gap is not evidence, except for ``silent_meter``, whose evidence
is the gap. Hour rules (stuck registers, frozen or swapped sensors, alarms) look at the whole
window the runner gives (the previous local day and this one), so a run that began yesterday is
measured from its start; a finding's ``since_s`` is carried over from ``open_findings`` while its
episode goes on.

Meter faults explain performance symptoms: when the meter itself is wrong (silent, a register
stuck, sensors swapped or frozen) the day's ΔT, return temperature and heat are not the
building's, so ``low_delta_t``, ``high_return_temp``, ``summer_bypass`` and
``signature_deviation`` are not reported beside them; a high return temperature explains a low
ΔT, so ``low_delta_t`` names only low ΔT that a high return does not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence

from energy_core.analysis import FAULTS
from energy_core.rollups import day_bounds
from energy_core.timeutil import HOUR_NS, NS
from ingest.analysis.kpis import day_length_h, deviation_pct
from ingest.analysis.model import DayKpi, Finding, HeatHour, SiteDay
from ingest.analysis.thresholds import Thresholds

__all__ = ["KAMSTRUP_INFO_BITS", "decode_info_code", "detect"]

# Kamstrup MULTICAL 603 info code bits (Kamstrup, Technical Description MULTICAL 603, §7.7.2
# "Information code types on serial communication"; the same table wmbusmeters decodes in its
# multical603 driver). Bits 10 and 26 are reserved: they are reported as unknown bits.
KAMSTRUP_INFO_BITS: dict[int, str] = {
    0: "voltage interrupted",
    1: "low battery level",
    2: "sensor error",
    3: "T1 above measuring range",
    4: "T2 above measuring range",
    5: "T1 below measuring range",
    6: "T2 below measuring range",
    7: "temperature difference of wrong polarity",
    8: "flow sensor V1 signal weak or air",
    9: "wrong flow direction V1",
    11: "flow V1 increased",
    12: "leakage in the system (In-A1)",
    13: "leakage in the system (In-B1)",
    14: "external alarm (In-A1/A2)",
    15: "external alarm (In-B1/B2)",
    16: "V1 communication error",
    17: "V1 wrong pulse figure",
    18: "leakage in the system (In-A2)",
    19: "leakage in the system (In-B2)",
    20: "T3 above measuring range or switched off",
    21: "T3 below measuring range or short-circuited",
    22: "V2 communication error",
    23: "V2 wrong pulse figure",
    24: "V2 air",
    25: "wrong flow direction V2",
    27: "flow V2 increased",
    28: "burst, water loss (V1/V2)",
    29: "burst, water penetration (V1/V2)",
    30: "leakage, water loss (V1/V2)",
    31: "leakage, water penetration (V1/V2)",
}

_METER_FAULTS = frozenset(
    {
        "silent_meter",
        "stuck_energy_register",
        "stuck_volume_register",
        "swapped_temperatures",
        "frozen_sensor",
    }
)
_PERFORMANCE = frozenset({"low_delta_t", "high_return_temp", "summer_bypass", "signature_deviation"})


def decode_info_code(code: int) -> list[str]:
    """The names of the set bits of a Kamstrup info code, lowest first ("unknown bit n" if unnamed)."""
    return [KAMSTRUP_INFO_BITS.get(bit, f"unknown bit {bit}") for bit in range(32) if code >> bit & 1]


@dataclasses.dataclass(frozen=True, slots=True)
class _Ctx:
    site_day: SiteDay
    kpi: DayKpi
    thresholds: Thresholds
    day_start_ns: int
    day_end_ns: int  # or now, for today
    window: Sequence[HeatHour]  # the runner's hours up to the end, in time order

    def since(self, code: str, began_ns: int) -> float:
        """The episode's start: carried from yesterday's open finding, else when it began."""
        carried = self.site_day.open_findings.get(code)
        return float(carried) if carried is not None else began_ns / NS


def _runs(hours: Sequence[HeatHour], judge: Callable[[int, HeatHour], bool | None]) -> list[list[HeatHour]]:
    """Maximal runs of hours judged True; an hour judged None (no evidence) neither counts nor breaks."""
    runs: list[list[HeatHour]] = []
    current: list[HeatHour] = []
    for i, h in enumerate(hours):
        verdict = judge(i, h)
        if verdict is None:
            continue
        if verdict:
            current.append(h)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _latest_run_in_day(runs: list[list[HeatHour]], ctx: _Ctx, min_hours: int) -> list[HeatHour] | None:
    """The latest run long enough that reaches into the day."""
    for run in reversed(runs):
        if len(run) >= min_hours and run[-1].start_ns >= ctx.day_start_ns:
            return run
    return None


def _fmt_time(ns: int) -> str:
    from energy_core.rollups import ZONE

    return dt.datetime.fromtimestamp(ns / NS, tz=ZONE).strftime("%Y-%m-%d %H:%M")


# -- the meter's own faults ------------------------------------------------------------------------


def _stuck(ctx: _Ctx, code: str, which: str) -> Finding | None:
    p = ctx.thresholds.stuck_register
    if which == "energy":
        first: Callable[[HeatHour], float | None] = lambda h: h.energy_first  # noqa: E731
        last: Callable[[HeatHour], float | None] = lambda h: h.energy_last  # noqa: E731
    else:
        first, last = (lambda h: h.volume_first), (lambda h: h.volume_last)
    prev: list[float | None] = []
    known: float | None = None
    for h in ctx.window:
        prev.append(known)
        if last(h) is not None:
            known = last(h)

    def judge(i: int, h: HeatHour) -> bool | None:
        value, before = last(h), prev[i]
        if value is None or before is None or h.flow_mean is None or h.flow_mean < p.min_flow_m3h:
            return None
        f = first(h)
        return value == before and (f is None or f == before)

    run = _latest_run_in_day(_runs(ctx.window, judge), ctx, p.min_hours)
    if run is None:
        return None
    if which == "energy":
        expected = sum(h.power_mean for h in run if h.power_mean is not None)
        if any(h.power_mean is not None for h in run) and expected <= p.energy_resolution_kwh:
            return None
        moved = f"while the meter's power says {expected:.1f} kWh"
        register = f"energy register stuck at {last(run[-1]):g} kWh"
    else:
        expected = sum(h.flow_mean or 0.0 for h in run)
        if expected <= p.volume_resolution_m3:
            return None
        moved = f"while the meter's flow says {expected:.2f} m³"
        register = f"volume register stuck at {last(run[-1]):g} m³"
    hours = float(len(run))
    return Finding(
        code=code,
        since_s=ctx.since(code, run[0].start_ns),
        value=hours,
        threshold=float(p.min_hours),
        text=f"{register} for {hours:g} h with flow since {_fmt_time(run[0].start_ns)} {moved}.",
    )


def _frozen(ctx: _Ctx) -> Finding | None:
    p = ctx.thresholds.frozen_sensor
    best: tuple[list[HeatHour], str, float] | None = None
    for name in ("supply", "return"):
        mean_of: Callable[[HeatHour], float | None] = (
            (lambda h: h.supply_mean) if name == "supply" else (lambda h: h.return_mean)
        )
        lo_of: Callable[[HeatHour], float | None] = (
            (lambda h: h.supply_min) if name == "supply" else (lambda h: h.return_min)
        )
        hi_of: Callable[[HeatHour], float | None] = (
            (lambda h: h.supply_max) if name == "supply" else (lambda h: h.return_max)
        )
        runs: list[list[HeatHour]] = []
        current: list[HeatHour] = []
        for h in ctx.window:
            mean, lo, hi = mean_of(h), lo_of(h), hi_of(h)
            if mean is None:
                continue
            constant = lo is None or hi is None or hi - lo <= p.tolerance_k
            if constant and current and abs(mean - (mean_of(current[0]) or 0.0)) <= p.tolerance_k:
                current.append(h)
                continue
            if current:
                runs.append(current)
            current = [h] if constant else []
        if current:
            runs.append(current)
        run = _latest_run_in_day(runs, ctx, p.min_hours)
        if run is None:
            continue
        loads = [h.power_mean for h in run if h.power_mean is not None]
        if len(loads) < 2:
            loads = [h.flow_mean for h in run if h.flow_mean is not None]
        if len(loads) < 2:
            continue  # no evidence that anything changed while the sensor stayed put
        mean_load = sum(loads) / len(loads)
        if mean_load <= 0 or (max(loads) - min(loads)) / mean_load < p.min_load_variation:
            continue
        if best is None or len(run) > len(best[0]):
            best = (run, name, (max(loads) - min(loads)) / mean_load)
    if best is None:
        return None
    run, name, variation = best
    value = (run[0].supply_mean if name == "supply" else run[0].return_mean) or 0.0
    hours = float(len(run))
    return Finding(
        code="frozen_sensor",
        since_s=ctx.since("frozen_sensor", run[0].start_ns),
        value=hours,
        threshold=float(p.min_hours),
        text=(
            f"{name} temperature constant at {value:.2f} °C for {hours:g} h since "
            f"{_fmt_time(run[0].start_ns)} while the load varied by {variation * 100:.0f} %."
        ),
    )


def _swapped(ctx: _Ctx) -> Finding | None:
    p = ctx.thresholds.swapped_temperatures

    def judge(_: int, h: HeatHour) -> bool | None:
        if h.flow_mean is None or h.flow_mean < p.min_flow_m3h:
            return None
        if h.supply_mean is None or h.return_mean is None:
            return None
        return h.return_mean - h.supply_mean > p.min_difference_k

    run = _latest_run_in_day(_runs(ctx.window, judge), ctx, p.min_hours)
    if run is None:
        return None
    diffs = [(h.return_mean or 0.0) - (h.supply_mean or 0.0) for h in run]
    value = sum(diffs) / len(diffs)
    return Finding(
        code="swapped_temperatures",
        since_s=ctx.since("swapped_temperatures", run[0].start_ns),
        value=value,
        threshold=p.min_difference_k,
        text=(
            f"return above supply by {value:.1f} K on average over {len(run)} h with flow since "
            f"{_fmt_time(run[0].start_ns)}."
        ),
    )


def usual_interval_h(site_day: SiteDay) -> float | None:
    """The meter's usual time between readings: the history days' hours over their readings."""
    days = [k for k in site_day.history if k.readings > 0]
    if days:
        return sum(day_length_h(k.day) for k in days) / sum(k.readings for k in days)
    hours = [h for h in site_day.hours if h.count > 0]
    if len(hours) >= 2:
        span_h = (hours[-1].start_ns - hours[0].start_ns) / HOUR_NS + 1
        return span_h / sum(h.count for h in hours)
    return None


def _silent(ctx: _Ctx) -> Finding | None:
    p = ctx.thresholds.silent_meter
    interval = usual_interval_h(ctx.site_day)
    if interval is None:
        return None  # a meter never heard has no usual interval to miss
    limit_h = max(p.k * interval, p.min_silence_h)
    heard = [h for h in ctx.window if h.count > 0]
    if heard:
        last_end = heard[-1].start_ns + HOUR_NS  # the latest the last reading can have been
    else:
        with_readings = [k for k in ctx.site_day.history if k.readings > 0]
        if not with_readings:
            return None
        last_end = day_bounds(with_readings[-1].day)[1]
    gap_h = (ctx.day_end_ns - last_end) / HOUR_NS
    if gap_h < limit_h:
        return None
    return Finding(
        code="silent_meter",
        since_s=ctx.since("silent_meter", last_end),
        value=gap_h,
        threshold=limit_h,
        text=(
            f"no reading for {gap_h:.1f} h since {_fmt_time(last_end)}, limit {limit_h:.1f} h "
            f"({p.k:g} × the usual interval of {interval * 60:.1f} min, at least {p.min_silence_h:g} h)."
        ),
    )


def _as_code(value: float | None) -> int:
    if value is None or not math.isfinite(value) or value < 0:
        return 0
    return int(value) & 0xFFFFFFFF


def _alarm(ctx: _Ctx) -> Finding | None:
    ignore = 0
    for bit in ctx.thresholds.meter_alarm.ignore_bits:
        ignore |= 1 << bit
    code = 0
    began: int | None = None
    for h in ctx.window:
        bits = (_as_code(h.info_code_last) | _as_code(h.info_code_max)) & ~ignore
        if not bits:
            began = None
            continue
        if began is None:
            began = h.start_ns
        if h.start_ns >= ctx.day_start_ns:
            code |= bits
    if not code or began is None:
        return None
    names = decode_info_code(code)
    return Finding(
        code="meter_alarm",
        since_s=ctx.since("meter_alarm", began),
        value=float(code),
        threshold=0.0,
        text=f"meter info code {code} (Kamstrup MULTICAL bits): {', '.join(names)}.",
    )


# -- the substation's performance ------------------------------------------------------------------


def season_outdoor_c(site_day: SiteDay, kpi: DayKpi, thresholds: Thresholds) -> float | None:
    """The running mean outdoor temperature that decides the season: this day's and the history's
    over the last ``running_days`` days (so that one cool summer day does not start the season)."""
    if kpi.outdoor_temp_c is None:
        return None
    first = site_day.day - dt.timedelta(days=thresholds.heating_season.running_days - 1)
    temps = [k.outdoor_temp_c for k in site_day.history if k.outdoor_temp_c is not None and first <= k.day]
    temps.append(kpi.outdoor_temp_c)
    return sum(temps) / len(temps)


def _in_season(ctx: _Ctx) -> bool:
    outdoor = season_outdoor_c(ctx.site_day, ctx.kpi, ctx.thresholds)
    return ctx.thresholds.heating_season.contains(ctx.site_day.day, outdoor)


def _season_text(ctx: _Ctx) -> str:
    t = ctx.kpi.outdoor_temp_c
    return f"at {t:.1f} °C outdoors" if t is not None else f"in {ctx.site_day.day:%B}"


def _high_return(ctx: _Ctx) -> Finding | None:
    p, k = ctx.thresholds.high_return_temp, ctx.kpi
    if not _in_season(ctx) or k.return_temp_c is None or k.hours < p.min_hours:
        return None
    limit = p.limit_c(k.outdoor_temp_c)
    if k.return_temp_c <= limit:
        return None
    return Finding(
        code="high_return_temp",
        since_s=ctx.since("high_return_temp", ctx.day_start_ns),
        value=k.return_temp_c,
        threshold=limit,
        text=(
            f"volume-weighted return {k.return_temp_c:.1f} °C > {limit:.1f} °C over {k.hours:g} h "
            f"{_season_text(ctx)}."
        ),
    )


def _low_delta_t(ctx: _Ctx) -> Finding | None:
    p, k = ctx.thresholds.low_delta_t, ctx.kpi
    if not _in_season(ctx) or k.delta_t_k is None or k.heat_kwh is None or k.hours < p.min_hours:
        return None
    limit = p.limit_k(k.outdoor_temp_c)
    if k.heat_kwh < p.min_heat_kwh or k.delta_t_k >= limit:
        return None
    elasticity = leak_elasticity(ctx.site_day, ctx.thresholds)
    hint = ""
    if elasticity is not None and elasticity >= p.leak_elasticity:
        hint = f"; the ΔT falls with the load (elasticity {elasticity:.2f}), as a leaking bypass makes it"
    return Finding(
        code="low_delta_t",
        since_s=ctx.since("low_delta_t", ctx.day_start_ns),
        value=k.delta_t_k,
        threshold=limit,
        text=(
            f"ΔT {k.delta_t_k:.1f} K < {limit:.1f} K over {k.hours:g} h "
            f"({k.heat_kwh:.0f} kWh, {k.volume_m3 or 0.0:.1f} m³) {_season_text(ctx)}{hint}."
        ),
    )


def leak_elasticity(site_day: SiteDay, thresholds: Thresholds) -> float | None:
    """How the day's hourly ΔT follows its hourly load: d ln ΔT / d ln P between the lowest-load
    third of the hours and the highest-load third (flow-weighted ΔT, mean power of each third).

    A leaking bypass (a short circuit from supply to return) adds a flow ``q_b`` that does not
    follow the load: the meter's ΔT is ΔT₀ · q / (q + q_b), so it falls with the load and the
    elasticity is the leak's share of the flow (0 … 1). A fouled heat exchanger warms the return
    by the same or more at high load: elasticity ≈ 0 or below. None without evidence: fewer than
    two hours a third, or loads that vary by less than ``max_load_ratio``.
    """
    p = thresholds.low_delta_t
    start, end = day_bounds(site_day.day)
    end = min(end, site_day.now_ns)
    hours = sorted(
        (
            h
            for h in site_day.hours
            if start <= h.start_ns < end
            and h.power_mean is not None
            and h.power_mean > 0
            and h.flow_mean is not None
            and h.flow_mean >= thresholds.kpi.min_flow_m3h
            and h.supply_mean is not None
            and h.return_mean is not None
        ),
        key=lambda h: (h.power_mean or 0.0, h.start_ns),
    )
    third = len(hours) // 3
    if third < 2:
        return None

    def delta_t(group: Sequence[HeatHour]) -> float:
        flow = sum(h.flow_mean or 0.0 for h in group)
        return (
            sum((h.flow_mean or 0.0) * ((h.supply_mean or 0.0) - (h.return_mean or 0.0)) for h in group)
            / flow
        )

    def load(group: Sequence[HeatHour]) -> float:
        return sum(h.power_mean or 0.0 for h in group) / len(group)

    low, high = hours[:third], hours[-third:]
    load_ratio = load(low) / load(high)
    dt_low, dt_high = delta_t(low), delta_t(high)
    if load_ratio > p.max_load_ratio or dt_low <= 0 or dt_high <= 0:
        return None
    return math.log(dt_low / dt_high) / math.log(load_ratio)


def _summer_bypass(ctx: _Ctx) -> Finding | None:
    """Out of the heating season: the day's ΔT below the limit, or hours at low load with almost none.

    A thermostatic summer bypass opens only when the hot-water draw is small (at night), so the
    day's volume-weighted ΔT can stay above the limit while those hours pass water back at nearly
    supply temperature; ``min_low_delta_t_hours`` such hours of the day fire it too."""
    p, k = ctx.thresholds.summer_bypass, ctx.kpi
    if _in_season(ctx):
        return None
    if (
        k.delta_t_k is not None
        and k.volume_m3 is not None
        and k.hours >= p.min_hours
        and k.volume_m3 >= p.min_volume_m3
        and k.delta_t_k < p.max_delta_t_k
    ):
        return Finding(
            code="summer_bypass",
            since_s=ctx.since("summer_bypass", ctx.day_start_ns),
            value=k.delta_t_k,
            threshold=p.max_delta_t_k,
            text=(
                f"ΔT {k.delta_t_k:.1f} K < {p.max_delta_t_k:g} K with {k.volume_m3:.1f} m³ flowing "
                f"out of the heating season {_season_text(ctx)}."
            ),
        )
    low = [
        h
        for h in ctx.window
        if ctx.day_start_ns <= h.start_ns < ctx.day_end_ns
        and (h.flow_mean or 0.0) >= ctx.thresholds.kpi.min_flow_m3h
        and h.supply_mean is not None
        and h.return_mean is not None
        and h.supply_mean - h.return_mean < p.hourly_max_delta_t_k
    ]
    if len(low) < p.min_low_delta_t_hours:
        return None
    mean_dt = sum((h.supply_mean or 0.0) - (h.return_mean or 0.0) for h in low) / len(low)
    return Finding(
        code="summer_bypass",
        since_s=ctx.since("summer_bypass", low[0].start_ns),
        value=mean_dt,
        threshold=p.hourly_max_delta_t_k,
        text=(
            f"{len(low)} h with water flowing at ΔT {mean_dt:.1f} K < {p.hourly_max_delta_t_k:g} K "
            f"out of the heating season {_season_text(ctx)} (a bypass open at low load)."
        ),
    )


def signature_scatter_pct(site_day: SiteDay, thresholds: Thresholds) -> float | None:
    """How closely the history days inside the band followed their signature: the RMS of
    (heat − expected) / expected in %; None with fewer than ``min_reference_days`` such days.

    This, not r², says whether the signature can be a reference: in summer the load hardly
    depends on the weather (r² near 0) but follows the base load closely, and a doubling is as
    clear as in winter."""
    p = thresholds.signature_deviation
    errors = [
        (k.heat_kwh - k.signature_expected_kwh) / k.signature_expected_kwh
        for k in site_day.history
        if k.heat_kwh is not None
        and k.signature_expected_kwh is not None
        and k.signature_expected_kwh > 0
        and deviation_pct(k, thresholds) is None
    ]
    if len(errors) < p.min_reference_days:
        return None
    return 100.0 * math.sqrt(sum(e * e for e in errors) / len(errors))


def _signature(ctx: _Ctx) -> Finding | None:
    p = ctx.thresholds.signature_deviation
    if ctx.day_end_ns < day_bounds(ctx.site_day.day)[1]:
        return None  # a day not yet over has not used its heat yet
    today = deviation_pct(ctx.kpi, ctx.thresholds)
    if today is None:
        return None
    scatter = signature_scatter_pct(ctx.site_day, ctx.thresholds)
    if scatter is None or scatter > p.max_scatter_pct:
        return None  # no reference to deviate from
    run_start = ctx.site_day.day
    by_day = {k.day: k for k in ctx.site_day.history}
    days = 1
    while days < p.min_days:
        previous = by_day.get(run_start - dt.timedelta(days=1))
        pct = deviation_pct(previous, ctx.thresholds) if previous is not None else None
        if pct is None or (pct > 0) != (today > 0):
            return None
        run_start -= dt.timedelta(days=1)
        days += 1
    k = ctx.kpi
    assert k.heat_kwh is not None
    assert k.signature_expected_kwh is not None
    return Finding(
        code="signature_deviation",
        since_s=ctx.since("signature_deviation", day_bounds(run_start)[0]),
        value=today,
        threshold=p.band_pct,
        text=(
            f"heat {k.heat_kwh:.0f} kWh is {today:+.0f} % from the signature's "
            f"{k.signature_expected_kwh:.0f} kWh (band ±{p.band_pct:g} %, the signature's own "
            f"scatter {scatter:.1f} %) for {days} days in a row."
        ),
    )


def detect(site_day: SiteDay, kpi: DayKpi, thresholds: Thresholds) -> list[Finding]:
    """The faults of ``site_day.day``, in the order of :data:`energy_core.analysis.FAULTS`."""
    start, end = day_bounds(site_day.day)
    end = min(end, site_day.now_ns)
    window = sorted((h for h in site_day.hours if h.start_ns < end), key=lambda h: h.start_ns)
    ctx = _Ctx(site_day, kpi, thresholds, start, end, window)
    found: dict[str, Finding] = {}
    for finding in (
        _stuck(ctx, "stuck_energy_register", "energy"),
        _stuck(ctx, "stuck_volume_register", "volume"),
        _frozen(ctx),
        _swapped(ctx),
        _silent(ctx),
        _alarm(ctx),
    ):
        if finding is not None:
            found[finding.code] = finding
    if not found.keys() & _METER_FAULTS:
        # A warm return and a low ΔT are both reported when both hold: each is true, and each
        # costs the utility in its own way (condensation at the plant, pumping).
        for finding in (_high_return(ctx), _low_delta_t(ctx), _summer_bypass(ctx), _signature(ctx)):
            if finding is not None:
                found[finding.code] = finding
    assert found.keys() <= FAULTS.keys()
    assert not found.keys() & _PERFORMANCE or not found.keys() & _METER_FAULTS
    return [found[code] for code in FAULTS if code in found]
