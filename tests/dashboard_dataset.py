"""A small deterministic data set in the SPEC §4 schema, for executing dashboard queries.

Two days at 15-minute steps in January: three Borlänge Energi substations on one network,
two Tunabyggen buildings (heat meter, electricity meter, indoor sensor each), a weather
station, and the derived ``energy`` and ``emissions`` points ingest would write for them.
Written with energy_core.lineprotocol and InfluxClient, exactly the path ingest's writer takes.

Two meters report more often for a while (every 5 minutes in the first eight hours: sub-norr's
heat meter and tb-hagalund-1's indoor sensor), so hours hold different numbers of readings and a
mean of hourly means would differ from the mean over the readings: the roll-up panels must give
the latter.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode, encode_batch
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY, Point
from ingest.rollup.cli import rebuild
from ingest.rollup.retention import ensure_policies

START_NS = 1_705_276_800 * 10**9  # 2024-01-15T00:00:00Z
STEP_NS = 15 * 60 * 10**9
STEPS = 2 * 24 * 4
END_NS = START_NS + (STEPS - 1) * STEP_NS

# g CO2e/kWh by (carrier, method): the SPEC §6 defaults.
FACTORS = {
    (CARRIER_DISTRICT_HEAT, "location"): 54.9,
    (CARRIER_DISTRICT_HEAT, "market"): 54.9,
    (CARRIER_ELECTRICITY, "location"): 36.0,
    (CARRIER_ELECTRICITY, "market"): 524.1,
}


@dataclass(frozen=True)
class Site:
    owner: str
    site: str
    base_kw: float  # mean heat load
    building: bool  # has electricity and indoor sensors


SITES = (
    Site("borlange-energi", "sub-norr", 1800.0, building=False),
    Site("borlange-energi", "sub-centrum", 2600.0, building=False),
    Site("borlange-energi", "sub-tjarna", 900.0, building=False),
    Site("tunabyggen", "tb-hagalund-1", 120.0, building=True),
    Site("tunabyggen", "tb-jakobsgardarna-7", 85.0, building=True),
)
NETWORK = "borlange"
# (site, measurement) reporting at +5 and +10 minutes too during the first FAST_STEPS steps.
FAST = {("sub-norr", "district_heating"), ("tb-hagalund-1", "indoor_climate")}
FAST_STEPS = 8 * 4
FAST_OFFSETS_NS = (5 * 60 * 10**9, 10 * 60 * 10**9)
OWNERS = sorted({s.owner for s in SITES})


def _tags(site: Site, device: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("owner", site.owner), ("site", site.site), ("device", device), *sorted(extra.items()))


def _day_cycle(ts: int) -> float:
    hour = ((ts - START_NS) / 3_600_000_000_000) % 24
    return math.sin((hour - 9) / 24 * 2 * math.pi)


def _heat_gauges(site: Site, index: int, ts: int) -> dict[str, float]:
    day_cycle = _day_cycle(ts)
    outdoor_c = -8.0 + 4.0 * day_cycle
    power_kw = site.base_kw * (1.0 - 0.02 * outdoor_c) * (1.0 + 0.1 * day_cycle)
    supply_c = 95.0 - 1.2 * outdoor_c
    return_c = 45.0 + 0.5 * index
    delta_t = supply_c - return_c
    return {
        "power_kw": power_kw,
        "flow_m3h": power_kw / (1.14 * delta_t),
        "supply_temp_c": supply_c,
        "return_temp_c": return_c,
        "delta_t_k": delta_t,
    }


def _indoor(ts: int) -> dict[str, float]:
    day_cycle = _day_cycle(ts)
    return {
        "temperature_c": 21.0 + 0.8 * day_cycle,
        "humidity_pct": 30.0 + 5.0 * day_cycle,
        "co2_ppm": 550.0 + 300.0 * max(day_cycle, 0.0),
    }


def points() -> list[Point]:
    """Every point of the data set; the same list on every call."""
    out: list[Point] = []
    for index, site in enumerate(SITES):
        energy_register = 100_000.0 * (index + 1)
        import_register = 50_000.0 * (index + 1)
        heat = _tags(site, f"{site.site}-hm", network=NETWORK)
        indoor = _tags(site, f"{site.site}-ers")
        for step in range(STEPS):
            ts = START_NS + step * STEP_NS
            day_cycle = _day_cycle(ts)
            gauges = _heat_gauges(site, index, ts)
            interval_kwh = gauges["power_kw"] * 0.25
            energy_register += interval_kwh
            out.append(
                Point(
                    "district_heating",
                    heat,
                    {
                        "energy_kwh": energy_register,
                        "volume_m3": 10_000.0 + step * gauges["flow_m3h"] * 0.25,
                        **gauges,
                        "info_code": 0.0,
                    },
                    ts,
                )
            )
            fast = step < FAST_STEPS
            if fast and (site.site, "district_heating") in FAST:
                out.extend(
                    Point("district_heating", heat, _heat_gauges(site, index, ts + o), ts + o)
                    for o in FAST_OFFSETS_NS
                )
            intervals = [(CARRIER_DISTRICT_HEAT, heat, interval_kwh)]
            if site.building:
                elec_kw = 20.0 + 10.0 * max(day_cycle, 0.0)
                import_register += elec_kw * 0.25
                elec = _tags(site, f"{site.site}-em")
                out.append(
                    Point(
                        "electricity",
                        elec,
                        {"energy_import_kwh": import_register, "energy_export_kwh": 0.0, "power_kw": elec_kw},
                        ts,
                    )
                )
                out.append(Point("indoor_climate", indoor, _indoor(ts), ts))
                if fast and (site.site, "indoor_climate") in FAST:
                    out.extend(
                        Point("indoor_climate", indoor, _indoor(ts + o), ts + o) for o in FAST_OFFSETS_NS
                    )
                intervals.append((CARRIER_ELECTRICITY, elec, elec_kw * 0.25))
            if step == 0:
                continue  # interval energy needs a previous register reading
            for carrier, tags, kwh in intervals:
                out.append(Point("energy", (*tags, ("carrier", carrier)), {"kwh": kwh}, ts))
                for method in ("location", "market"):
                    factor = FACTORS[(carrier, method)]
                    out.append(
                        Point(
                            "emissions",
                            (*tags, ("carrier", carrier), ("method", method)),
                            {"co2e_kg": kwh * factor / 1000, "factor_g_per_kwh": factor},
                            ts,
                        )
                    )
    weather = (("owner", "borlange-energi"), ("site", "weather-borlange"), ("device", "ws-1"))
    for step in range(STEPS):
        ts = START_NS + step * STEP_NS
        out.append(Point("weather", weather, {"outdoor_temp_c": -8.0 + 4.0 * _day_cycle(ts)}, ts))
    return out


async def write(influx_url: str, db: str, data: list[Point] | None = None) -> int:
    """Create ``db`` and write the data set (or ``data``) into it; returns the number of points."""
    data = points() if data is None else data
    async with InfluxClient(influx_url, db) as client:
        await client.ensure_database()
        for start in range(0, len(data), 5000):
            await client.write(encode_batch(data[start : start + 5000]))
    return len(data)


async def build_rollups(influx_url: str, db: str, data: list[Point] | None = None) -> None:
    """Create the roll-up retention policies and build the roll-ups of every local day the data
    covers, with ingest's own rebuild (what ``python -m ingest rollup`` runs)."""
    data = points() if data is None else data
    first = rollups.local_day_of(min(p.ts_ns for p in data))
    last = rollups.local_day_of(max(p.ts_ns for p in data))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    async with InfluxClient(influx_url, db) as client:
        assert await ensure_policies(client, rollup_days=0, raw_days=None) == "done"
        await rebuild(client, days)


# --- Analysis results (issues 15, 16) in the contract layout of energy_core/analysis.py ---------
# Written straight (the analysis that produces them is ingest's): one point per site per local
# day at the day's local midnight in rollup_1d, for the 16 local days 2024-01-01 … 2024-01-16
# (the last is the data set's second day). Plausible values with a few faults:
#   sub-tjarna        low_delta_t (warning), open: active 2024-01-10 … 01-16
#   sub-centrum       stuck_energy_register (critical), open: active 01-15, 01-16
#   sub-norr          high_return_temp (warning), active 01-12 … 01-15, cleared on 01-16 (active 0)
#   sub-norr          silent_meter (critical), a closed episode 01-05, 01-06
#   tb-hagalund-1     frozen_sensor (warning), open: active 01-16
ANALYSIS_DAYS = tuple(dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(16))
RHO_CP_KWH_PER_M3K = 1.16  # water near 50 °C: ~988 kg/m³ · 4.18 kJ/(kg·K) / 3600
TARGET_DELTA_T_K = 40.0
# Per heat-meter site: daily volume-weighted ΔT and return temperature (sub-tjarna cools badly,
# sub-norr returns hot).
KPI_PROFILE = {
    "sub-norr": (46.0, 56.0),
    "sub-centrum": (52.0, 42.0),
    "sub-tjarna": (18.0, 47.0),
    "tb-hagalund-1": (41.0, 44.0),
    "tb-jakobsgardarna-7": (36.0, 46.0),
}
# building_kpi: heated floor area (Atemp, m²) and the normal-year degree days per day.
FLOOR_AREA_M2 = {"tb-hagalund-1": 5200.0, "tb-jakobsgardarna-7": 4100.0}
NORMAL_DEGREE_DAYS = 22.0
SIGNATURE_BALANCE_C = 17.0
FAULT_DAYS: dict[tuple[str, str], tuple[tuple[dt.date, float], ...]] = {
    ("sub-tjarna", "low_delta_t"): tuple((d, 1.0) for d in ANALYSIS_DAYS[9:]),
    ("sub-centrum", "stuck_energy_register"): tuple((d, 1.0) for d in ANALYSIS_DAYS[14:]),
    ("sub-norr", "high_return_temp"): (*((d, 1.0) for d in ANALYSIS_DAYS[11:15]), (ANALYSIS_DAYS[15], 0.0)),
    ("sub-norr", "silent_meter"): tuple((d, 1.0) for d in ANALYSIS_DAYS[4:6]),
    ("tb-hagalund-1", "frozen_sensor"): ((ANALYSIS_DAYS[15], 1.0),),
}
# The faults open on the last analysed day (2024-01-16): their last point is active.
OPEN_FAULTS = {
    ("sub-tjarna", "low_delta_t"),
    ("sub-centrum", "stuck_energy_register"),
    ("tb-hagalund-1", "frozen_sensor"),
}


def _outdoor_of_day(index: int) -> float:
    return -8.0 + 5.0 * math.sin(index * 0.9)


def substation_kpi(site: Site, index: int) -> dict[str, float]:
    """One day's KPIs of a heat-meter site; ``index`` counts ANALYSIS_DAYS."""
    outdoor = _outdoor_of_day(index)
    slope = site.base_kw * 0.02
    base_kw = site.base_kw * 0.3
    load_kw = base_kw + slope * max(0.0, SIGNATURE_BALANCE_C - outdoor) * (1.0 + 0.01 * (index % 3))
    heat = load_kw * 24.0
    delta_t, return_c = KPI_PROFILE[site.site]
    volume = heat / (RHO_CP_KWH_PER_M3K * delta_t)
    needed = heat / (RHO_CP_KWH_PER_M3K * TARGET_DELTA_T_K)
    expected = (base_kw + slope * max(0.0, SIGNATURE_BALANCE_C - outdoor)) * 24.0
    return {
        "heat_kwh": heat,
        "volume_m3": volume,
        "delta_t_k": delta_t + 0.1 * (index % 4),
        "return_temp_c": return_c + 0.2 * (index % 5),
        "supply_temp_c": return_c + delta_t,
        "specific_flow_m3_per_mwh": volume / (heat / 1000.0),
        "excess_flow_m3": max(0.0, volume - needed),
        "peak_load_kw": load_kw * 1.25,
        "outdoor_temp_c": outdoor,
        "hours": 24.0,
        "readings": 96.0,
        "from_registers": 1.0,
        "signature_base_kw": base_kw,
        "signature_slope_kw_per_k": slope,
        "signature_balance_c": SIGNATURE_BALANCE_C,
        "signature_r2": 0.93,
        "signature_expected_kwh": expected,
    }


def building_kpi(site: Site, index: int) -> dict[str, float]:
    """One day's building KPIs; heat equals the substation KPI's heat of the same site."""
    outdoor = _outdoor_of_day(index)
    heat = substation_kpi(site, index)["heat_kwh"]
    return {
        "heat_kwh": heat,
        "electricity_kwh": 20.0 * 24.0 + 5.0 * (index % 7),
        "degree_days": max(0.0, SIGNATURE_BALANCE_C - outdoor),
        "normal_degree_days": NORMAL_DEGREE_DAYS,
        "base_kwh": site.base_kw * 0.3 * 24.0,
        "outdoor_temp_c": outdoor,
        "comfort_low_h": float(index % 3),
        "comfort_high_h": 0.0,
        "co2_high_h": float(index % 2),
        "indoor_hours": 24.0,
        "floor_area_m2": FLOOR_AREA_M2[site.site],
    }


def _line(measurement: str, tags: tuple[tuple[str, str], ...], fields: dict[str, float], ts: int) -> str:
    return encode(Point(measurement, tags, fields, ts))


def analysis_lines() -> list[str]:
    """The analysis results in line protocol (for rollup_1d), in the analysis contract's layout."""
    lines = []
    by_site = {site.site: site for site in SITES}
    for index, day in enumerate(ANALYSIS_DAYS):
        ts = rollups.local_midnight_ns(day)
        for site in SITES:
            tags = (("network", NETWORK), ("owner", site.owner), ("site", site.site))
            lines.append(_line(analysis.SUBSTATION_KPI, tags, substation_kpi(site, index), ts))
            if site.building:
                building_tags = (("owner", site.owner), ("site", site.site))
                lines.append(_line(analysis.BUILDING_KPI, building_tags, building_kpi(site, index), ts))
    for (site_id, code), days in FAULT_DAYS.items():
        site = by_site[site_id]
        fault = analysis.FAULTS[code]
        since = rollups.local_midnight_ns(days[0][0]) // 10**9
        tags = (
            ("code", code),
            ("network", NETWORK),
            ("owner", site.owner),
            ("severity", fault.severity),
            ("site", site_id),
        )
        for day, active in days:
            value, threshold = (18.2, 25.0) if fault.unit == "K" else (30.0, 6.0)
            text = f"{fault.title}: {value:g} {fault.unit} against {threshold:g} {fault.unit}"
            fields = {"active": active, "since_s": float(since), "value": value, "threshold": threshold}
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            line = _line(analysis.SUBSTATION_FAULT, tags, fields, rollups.local_midnight_ns(day))
            head, _, ts_text = line.rpartition(" ")
            lines.append(f'{head},text="{escaped}" {ts_text}')
    return lines


async def write_analysis(influx_url: str, db: str) -> int:
    """Write :func:`analysis_lines` into the analysis RP (after :func:`build_rollups`, which
    creates it); returns the number of lines."""
    lines = analysis_lines()
    async with InfluxClient(influx_url, db) as client:
        await client.write("\n".join(lines).encode(), rp=analysis.RP)
    return len(lines)
