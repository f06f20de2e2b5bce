"""Substation faults: what goes wrong in a heat meter's substation, as physics, with ground truth.

Each fault changes how a :class:`~simulators.heat.HeatMeter` behaves from its start (until its
end, if it ends); it is not a label on the data. What each one does, and which code of
``energy_core.analysis.FAULTS`` an analysis should report for it:

- ``fouled_exchanger`` (``high_return_temp``): the exchanger cools less: return 10–20 K warmer,
  more flow for the same heat;
- ``leaking_bypass`` (``low_delta_t``): supply water short-circuits into the return at 30–50 % of
  the design flow whatever the load (a leaking valve passes what the differential pressure
  pushes): the measured ΔT is the exchanger's times q / (q + q_b), lowest at low load;
- ``stuck_energy_register`` / ``stuck_volume_register`` (same codes): the register stops while
  flow (and power) go on;
- ``frozen_sensor`` (``frozen_sensor``): the return sensor repeats one value; the meter computes
  its power (and energy) from it;
- ``swapped_sensors`` (``swapped_temperatures``): supply and return exchanged; with a negative ΔT
  the meter shows power 0 and its energy register stops (EN 1434 meters accumulate no heat);
- ``silent_meter`` (``silent_meter``): the meter sends nothing; its registers go on counting;
- ``bad_control`` (``signature_deviation``): the building takes 35–60 % more (or 30–40 % less)
  heat than its signature says;
- ``summer_bypass`` (``summer_bypass``): a thermostatic bypass opens below 15 % of the design flow
  (summer, nights) and mixes 30–50 % of the design flow of supply water into the return: ΔT near
  zero at low load, nothing in winter;
- ``meter_alarm`` (``meter_alarm``): the meter's info code reads 16, "flow sensor weak or air"
  (Kamstrup MULTICAL 302, as wmbusmeters decodes it); 0 before and after.

``plan(city, start_s, end_s, seed=…, share=0.4)`` draws which substations have a fault, of which
class and from when: deterministic for the seed, the city and the time range. About ``share``
of the substations get one (Gadd & Werner 2015 found faults in 74 % of 135 Swedish substations,
Månsson et al. 2019 poor cooling in 42 % of 3,000); the classes at :data:`SHARES`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from energy_core.analysis import FAULTS
from energy_core.schema import DeviceKind

if TYPE_CHECKING:
    from simulators.city import City

DEFAULT_SHARE = 0.40  # of substations with some fault
LIVE_HORIZON_S = 30 * 86400.0  # a live run (no end) places its faults in its first 30 days
INFO_CODE_FLOW_SENSOR_WEAK_OR_AIR = 16  # Kamstrup MULTICAL 302 info-code bit (wmbusmeters' driver)


class SubstationFault(StrEnum):
    FOULED_EXCHANGER = "fouled_exchanger"
    LEAKING_BYPASS = "leaking_bypass"
    STUCK_ENERGY_REGISTER = "stuck_energy_register"
    STUCK_VOLUME_REGISTER = "stuck_volume_register"
    FROZEN_SENSOR = "frozen_sensor"
    SWAPPED_SENSORS = "swapped_sensors"
    SILENT_METER = "silent_meter"
    BAD_CONTROL = "bad_control"
    SUMMER_BYPASS = "summer_bypass"
    METER_ALARM = "meter_alarm"


# The analysis's code for each fault, and the codes its physics may also trigger (not false alarms).
CODES: dict[SubstationFault, tuple[str, tuple[str, ...]]] = {
    SubstationFault.FOULED_EXCHANGER: ("high_return_temp", ("low_delta_t", "summer_bypass")),
    SubstationFault.LEAKING_BYPASS: ("low_delta_t", ("high_return_temp", "summer_bypass")),
    SubstationFault.STUCK_ENERGY_REGISTER: ("stuck_energy_register", ("signature_deviation", "low_delta_t")),
    SubstationFault.STUCK_VOLUME_REGISTER: ("stuck_volume_register", ()),
    SubstationFault.FROZEN_SENSOR: (
        "frozen_sensor",
        ("low_delta_t", "high_return_temp", "signature_deviation", "swapped_temperatures"),
    ),
    SubstationFault.SWAPPED_SENSORS: (
        "swapped_temperatures",
        ("stuck_energy_register", "low_delta_t", "high_return_temp", "signature_deviation", "summer_bypass"),
    ),
    SubstationFault.SILENT_METER: ("silent_meter", ()),
    SubstationFault.BAD_CONTROL: ("signature_deviation", ()),
    SubstationFault.SUMMER_BYPASS: ("summer_bypass", ("low_delta_t", "high_return_temp")),
    SubstationFault.METER_ALARM: ("meter_alarm", ()),
}
assert all(code in FAULTS and set(also) <= set(FAULTS) for code, also in CODES.values())

# Shares of the faulty substations per class: poor cooling (fouling, bypasses, control) dominates
# in both studies; metering faults (registers, sensors, silence, alarms) make up the rest.
SHARES: tuple[tuple[SubstationFault, float], ...] = (
    (SubstationFault.FOULED_EXCHANGER, 0.18),
    (SubstationFault.LEAKING_BYPASS, 0.14),
    (SubstationFault.BAD_CONTROL, 0.12),
    (SubstationFault.SUMMER_BYPASS, 0.08),
    (SubstationFault.FROZEN_SENSOR, 0.10),
    (SubstationFault.STUCK_ENERGY_REGISTER, 0.07),
    (SubstationFault.STUCK_VOLUME_REGISTER, 0.05),
    (SubstationFault.SWAPPED_SENSORS, 0.06),
    (SubstationFault.SILENT_METER, 0.10),
    (SubstationFault.METER_ALARM, 0.10),
)
# Faults that end (a meter comes back, an alarm clears, a controller is re-tuned): (min, max) days.
DURATION_DAYS: dict[SubstationFault, tuple[float, float]] = {
    SubstationFault.SILENT_METER: (1.0, 4.0),
    SubstationFault.METER_ALARM: (1.0, 8.0),
    SubstationFault.BAD_CONTROL: (8.0, 20.0),
}


@dataclass(frozen=True, slots=True)
class MeterFault:
    """One fault of one heat meter: its class, when, and how strong (the class's own unit)."""

    kind: SubstationFault
    start_s: float
    end_s: float | None = None  # None: it lasts
    magnitude: float = 0.0  # K (fouling), factor (bad control), share of design flow (bypasses)

    def active(self, ts_s: float) -> bool:
        return ts_s >= self.start_s and (self.end_s is None or ts_s < self.end_s)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the simulator did to a substation: the report's ``substation_faults`` entry."""

    site: str
    device: str
    fault: SubstationFault
    code: str  # the code of energy_core.analysis.FAULTS an analysis should report
    also: tuple[str, ...]  # codes the same physics may trigger as well
    start_s: float
    end_s: float | None
    magnitude: float

    def to_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "device": self.device,
            "fault": str(self.fault),
            "code": self.code,
            "also": list(self.also),
            "start": _iso(self.start_s),
            "end": None if self.end_s is None else _iso(self.end_s),
            "start_s": self.start_s,
            "end_s": self.end_s,
            "magnitude": self.magnitude,
        }


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _draw_kind(rng: random.Random) -> SubstationFault:
    draw = rng.random()
    for kind, share in SHARES:
        draw -= share
        if draw < 0:
            return kind
    return SHARES[-1][0]


def _magnitude(kind: SubstationFault, rng: random.Random) -> float:
    if kind is SubstationFault.FOULED_EXCHANGER:
        return round(rng.uniform(10.0, 20.0), 2)  # K warmer return
    if kind is SubstationFault.LEAKING_BYPASS:
        return round(rng.uniform(0.3, 0.5), 3)  # leak flow as a share of the design flow
    if kind is SubstationFault.BAD_CONTROL:
        # Mostly over-heating (a broken outdoor sensor, a raised curve); some under-heating.
        return round(rng.uniform(1.35, 1.6) if rng.random() < 0.7 else rng.uniform(0.6, 0.7), 3)
    if kind is SubstationFault.SUMMER_BYPASS:
        return round(rng.uniform(0.3, 0.5), 3)  # bypass flow as a share of the design flow
    return 0.0


def plan(
    city: City, start_s: float, end_s: float | None, *, seed: int, share: float = DEFAULT_SHARE
) -> list[GroundTruth]:
    """Which substations of ``city`` get which fault in [start_s, end_s), deterministically.

    Starts fall in the middle of the range (10–80 % of it; bad control from 35 %, after a
    signature could be fitted) so that there is healthy history before and time to detect after.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"substation fault share {share} must be between 0 and 1")
    span = (end_s if end_s is not None else start_s + LIVE_HORIZON_S) - start_s
    rng = random.Random(f"substation-faults-{seed}")
    out: list[GroundTruth] = []
    for device in city.devices:
        model = device.model
        if model.kind is not DeviceKind.HEAT_METER:
            continue
        faulty = rng.random() < share
        kind = _draw_kind(rng)
        at = rng.random()
        length = rng.random()
        magnitude = _magnitude(kind, rng)
        if not faulty:  # every draw made anyway: the plan of one meter does not shift the others'
            continue
        lo = 0.35 if kind is SubstationFault.BAD_CONTROL else 0.1
        start = round(start_s + span * (lo + (0.8 - lo) * at))
        end: float | None = None
        if kind in DURATION_DAYS:
            d_lo, d_hi = DURATION_DAYS[kind]
            end = round(start + 86400.0 * (d_lo + (d_hi - d_lo) * length))
        code, also = CODES[kind]
        out.append(GroundTruth(device.site_id, device.id, kind, code, also, start, end, magnitude))
    return out


def meter_faults(truth: Sequence[GroundTruth], device_id: str) -> list[MeterFault]:
    """The faults of one meter, for :class:`~simulators.heat.HeatMeter`."""
    return [MeterFault(t.fault, t.start_s, t.end_s, t.magnitude) for t in truth if t.device == device_id]
