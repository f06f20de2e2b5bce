"""District-heating substations and their heat meters.

The outdoor temperature drives the space-heating load; domestic hot water adds a daily
profile on top. The supply temperature follows the operator's curve (70 °C on mild days,
110 °C at the design outdoor temperature), the return temperature depends on the load and
on how well the substation is tuned, and the flow follows from P = q·ρ·c_p·ΔT with the
water properties at the return side, where the flow sensor sits. Registers integrate power
and flow over time, so they only grow (unless a fault resets them).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from energy_core.schema import DeviceKind
from simulators.substation_faults import INFO_CODE_FLOW_SENSOR_WEAK_OR_AIR, MeterFault, SubstationFault
from simulators.weather import OutdoorClimate

BALANCE_TEMP_C = 17.0  # above this outdoor temperature buildings need no space heating
DESIGN_OUTDOOR_C = -22.0  # Borlänge's dimensioning outdoor temperature (DVUT)
SUPPLY_MILD_C, SUPPLY_COLD_C = 70.0, 110.0
SUPPLY_CURVE_FROM_C, SUPPLY_CURVE_TO_C = 8.0, -22.0  # the curve rises linearly between these outdoor temps
RETURN_MIN_C, RETURN_MAX_C = 35.0, 60.0  # a healthy substation's return temperature
DESIGN_DELTA_T_K = 40.0  # the ΔT a substation is dimensioned for (design flow = load / (ρc_p · 40 K))
SUMMER_BYPASS_OPENS_BELOW = 0.15  # share of the design flow under which a summer bypass opens
MIN_FAULTY_DELTA_T_K = 1.0  # a faulty substation still cools the water a little


def rho_cp_kwh_per_m3k(temp_c: float) -> float:
    """ρ·c_p/3600 of water in kWh/(m³·K): 1.152 at 40 °C, 1.137 at 70 °C, 1.122 at 100 °C (SPEC §5)."""
    return 1.152 - 0.0005 * (temp_c - 40.0)


def supply_temp_c(outdoor_c: float) -> float:
    """The operator's supply-temperature curve (framledningstemperatur) in °C."""
    span = (SUPPLY_CURVE_FROM_C - outdoor_c) / (SUPPLY_CURVE_FROM_C - SUPPLY_CURVE_TO_C)
    return SUPPLY_MILD_C + (SUPPLY_COLD_C - SUPPLY_MILD_C) * min(1.0, max(0.0, span))


def hot_water_profile(ts_s: float) -> float:
    """Relative domestic hot-water use over the day (mean ≈ 1): peaks at 07 and 19 local time."""
    hour = ((ts_s / 3600.0) + 1.0) % 24.0  # CET
    morning = math.exp(-(((hour - 7.0) / 1.3) ** 2))
    evening = math.exp(-(((hour - 19.0) / 2.0) ** 2))
    night = 0.25
    return night + 1.5 * morning + 1.6 * evening


@dataclass
class HeatMeter:
    """A substation heat meter: registers only grow, temperatures follow the outdoor temperature."""

    device_id: str
    design_load_kw: float
    energy_kwh: float = 0.0
    volume_m3: float = 0.0
    hot_water_share: float = 0.2  # share of the design load that is domestic hot water at its mean
    return_offset_c: float = 0.0  # a poorly tuned substation returns warmer water (0 … 12 K)
    return_slope_k: float = 15.0  # how much warmer the return gets from no space heating to design load
    faults: list[MeterFault] = field(default_factory=list)  # substation faults (substation_faults.py)
    kind: DeviceKind = DeviceKind.HEAT_METER
    _last_ts_s: float | None = field(default=None, repr=False)
    _power_kw: float = field(default=0.0, repr=False)
    _flow_m3h: float = field(default=0.0, repr=False)
    _frozen_c: float | None = field(default=None, repr=False)

    def silent(self, ts_s: float) -> bool:
        """Whether the meter sends nothing at ``ts_s`` (a ``silent_meter`` fault; it still counts)."""
        return any(f.kind is SubstationFault.SILENT_METER and f.active(ts_s) for f in self.faults)

    def read(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]:
        """The meter's reading at ``ts_s``: registers advanced by the last power and flow."""
        active = {f.kind: f for f in self.faults if f.active(ts_s)} if self.faults else {}
        if self._last_ts_s is not None and ts_s > self._last_ts_s:
            hours = (ts_s - self._last_ts_s) / 3600.0
            if SubstationFault.STUCK_ENERGY_REGISTER not in active:
                self.energy_kwh += self._power_kw * hours
            if SubstationFault.STUCK_VOLUME_REGISTER not in active:
                self.volume_m3 += self._flow_m3h * hours
        self._last_ts_s = ts_s

        space = min(1.0, max(0.0, (BALANCE_TEMP_C - outdoor_c) / (BALANCE_TEMP_C - DESIGN_OUTDOOR_C)))
        hot_water = self.hot_water_share * hot_water_profile(ts_s)
        load_fraction = (1.0 - self.hot_water_share) * space + hot_water
        power_kw = max(0.2, self.design_load_kw * load_fraction * (1.0 + rng.gauss(0.0, 0.03)))
        supply_c = supply_temp_c(outdoor_c) + rng.gauss(0.0, 0.3)
        return_c = min(
            RETURN_MAX_C,
            max(
                RETURN_MIN_C,
                35.0 + self.return_slope_k * space + self.return_offset_c + rng.gauss(0.0, 0.4),
            ),
        )
        if active:
            power_kw, return_c = self._process_faults(active, power_kw, supply_c, return_c)
        # Rounded as the meter displays them; the flow is computed from the rounded values so that
        # P = q·ρ·c_p·ΔT holds for what is published.
        power_kw = round(power_kw, 3)
        supply_c, return_c = round(supply_c, 2), round(return_c, 2)
        flow_m3h = round(power_kw / (rho_cp_kwh_per_m3k(return_c) * (supply_c - return_c)), 5)
        reading = {
            "energy": round(self.energy_kwh, 3),
            "volume": round(self.volume_m3, 5),
            "power": power_kw,
            "flow": flow_m3h,
            "supply_temp": supply_c,
            "return_temp": return_c,
        }
        if self.faults:
            self._metering_faults(active, reading)
        self._power_kw, self._flow_m3h = reading["power"], flow_m3h
        return reading

    def _process_faults(
        self, active: dict[SubstationFault, MeterFault], power_kw: float, supply_c: float, return_c: float
    ) -> tuple[float, float]:
        """The substation's own faults: the water really comes back warmer, the heat really differs."""
        if (f := active.get(SubstationFault.BAD_CONTROL)) is not None:
            power_kw *= f.magnitude
        if (f := active.get(SubstationFault.FOULED_EXCHANGER)) is not None:
            return_c = min(return_c + f.magnitude, supply_c - 3.0)
        rho_cp = rho_cp_kwh_per_m3k(return_c)
        hx_flow = power_kw / (rho_cp * (supply_c - return_c))
        design_flow = self.design_load_kw / (rho_cp * DESIGN_DELTA_T_K)
        bypass = 0.0
        if (f := active.get(SubstationFault.LEAKING_BYPASS)) is not None:
            # A leaking valve or short circuit passes a flow set by the network's differential
            # pressure, not by the load: ΔT = ΔT₀ · q / (q + q_b), lowest at low load.
            bypass += f.magnitude * design_flow
        f = active.get(SubstationFault.SUMMER_BYPASS)
        if f is not None and hx_flow < SUMMER_BYPASS_OPENS_BELOW * design_flow:
            # A thermostatic bypass that keeps the service pipe warm opens when little water flows
            # (summer, nights): ΔT near zero at low load, nothing in winter.
            bypass += f.magnitude * design_flow
        if bypass > 0:
            # Supply water mixed into the return; the heat delivered is the exchanger's.
            return_c = (hx_flow * return_c + bypass * supply_c) / (hx_flow + bypass)
        return power_kw, min(return_c, supply_c - MIN_FAULTY_DELTA_T_K)

    def _metering_faults(self, active: dict[SubstationFault, MeterFault], reading: dict[str, float]) -> None:
        """The meter's own faults: what it publishes differs from the water; the flow is measured right."""
        if any(f.kind is SubstationFault.METER_ALARM for f in self.faults):
            alarm = SubstationFault.METER_ALARM in active
            reading["info_code"] = float(INFO_CODE_FLOW_SENSOR_WEAK_OR_AIR if alarm else 0)
        if SubstationFault.FROZEN_SENSOR in active:
            if self._frozen_c is None:
                self._frozen_c = reading["return_temp"]
            reading["return_temp"] = self._frozen_c
            # The meter computes its power from the temperatures it believes.
            dt = reading["supply_temp"] - self._frozen_c
            flow = reading["flow"]
            reading["power"] = round(max(0.0, flow * rho_cp_kwh_per_m3k(self._frozen_c) * dt), 3)
        if SubstationFault.SWAPPED_SENSORS in active:
            reading["supply_temp"], reading["return_temp"] = reading["return_temp"], reading["supply_temp"]
            reading["power"] = 0.0  # a negative ΔT: EN 1434 meters accumulate no heat

    def set_registers(self, energy_kwh: float, volume_m3: float) -> None:
        """Set the registers (a counter reset sets 0, a replacement meter starts near 0)."""
        self.energy_kwh, self.volume_m3 = energy_kwh, volume_m3


def native_stream(
    meters: list[HeatMeter],
    start_s: float,
    step_s: float,
    count: int,
    *,
    prefix: str = "energy",
    seed: int = 1,
) -> Iterator[tuple[str, bytes]]:
    """``count`` native v1 messages, round-robin over the meters, ``step_s`` apart per meter."""
    rng = random.Random(seed)
    climate = OutdoorClimate(seed)
    topics = [f"{prefix}/v1/{m.device_id}" for m in meters]
    for i in range(count):
        meter = meters[i % len(meters)]
        ts_s = round(start_s + (i // len(meters)) * step_s, 3)
        reading = meter.read(ts_s, climate.temperature_c(ts_s), rng)
        yield topics[i % len(meters)], orjson.dumps({"ts": ts_s, "values": reading})
