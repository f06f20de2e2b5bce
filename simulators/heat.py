"""Heat meters of district-heating substations, publishing native v1 payloads."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

RHO_CP_KWH_PER_M3K = 1.15  # ρ·c_p/3600 of water near 50 °C; ingest derives it exactly (issue 5)


@dataclass
class HeatMeter:
    """A substation heat meter: registers only grow, temperatures follow the outdoor temperature."""

    device_id: str
    design_load_kw: float
    energy_kwh: float = 0.0
    volume_m3: float = 0.0

    def reading(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]:
        load_fraction = min(1.0, max(0.05, (17.0 - outdoor_c) / 37.0))
        power_kw = self.design_load_kw * load_fraction * rng.uniform(0.9, 1.1)
        supply_c = 70.0 + 40.0 * load_fraction  # the operator's curve: 70 °C mild … 110 °C at -20 °C
        return_c = 35.0 + 20.0 * load_fraction + rng.uniform(-1.0, 1.0)
        flow_m3h = power_kw / (RHO_CP_KWH_PER_M3K * (supply_c - return_c))
        return {
            "power": round(power_kw, 3),
            "flow": round(flow_m3h, 4),
            "supply_temp": round(supply_c, 2),
            "return_temp": round(return_c, 2),
            "energy": round(self.energy_kwh, 3),
            "volume": round(self.volume_m3, 4),
        }

    def advance(self, reading: dict[str, float], seconds: float) -> None:
        self.energy_kwh += reading["power"] * seconds / 3600
        self.volume_m3 += reading["flow"] * seconds / 3600


def outdoor_temp_c(ts_s: float) -> float:
    """Borlänge-like: about -6 °C in late January, 16 °C in July, ±4 °C day cycle."""
    day = ts_s / 86400
    season = 5.0 - 11.0 * math.cos(2 * math.pi * (day - 20) / 365.25)
    daily = -4.0 * math.cos(2 * math.pi * ((ts_s % 86400) / 86400 - 0.125))
    return season + daily


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
    for i in range(count):
        meter = meters[i % len(meters)]
        ts_s = start_s + (i // len(meters)) * step_s
        reading = meter.reading(ts_s, outdoor_temp_c(ts_s), rng)
        meter.advance(reading, step_s)
        yield f"{prefix}/v1/{meter.device_id}", orjson.dumps({"ts": ts_s, "values": reading})
