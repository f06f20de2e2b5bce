"""Fault injection: what goes wrong in a real city, and how often.

Rates are probabilities per reading, except ``clock_skew`` (the share of devices whose clock is
off). At most one per-reading fault hits a reading. What each fault does, and what ingest is
expected to make of it (the simulator's report counts both):

| fault | what is sent | expected in ingest |
| --- | --- | --- |
| ``malformed`` | the payload cut in half (JSON formats) | dead letter ``invalid_json`` |
| ``wrong_unit`` | a value labelled with an unknown unit (native, SenML) | dead letter ``unknown_unit`` |
| ``duplicate`` | the message again, a little later | stored once |
| ``out_of_order`` | the message held back behind later ones | stored |
| ``clock_skew`` | device clock off by ±3 min or 1–2 h ahead | ahead: ``timestamp_out_of_range`` |
| ``counter_reset`` | registers restart from 0 | stored |
| ``meter_swap`` | a new meter: registers restart near 0 | stored |
| ``broken_sensor`` | supply or return temp 0.00 or 185.00 °C | stored without it; ``implausible_value`` |
| ``burst`` | 3–8 readings held, then sent at once (native: one array) | stored |
| ``silence`` | the device sends nothing for 10–60 readings | nothing |

``substations`` is not per reading either: it is the share of substations with a substation fault
(fouled exchanger, leaking bypass, stuck register, ...: ``substation_faults.py``), 0.4 when given
bare. Parts combine: ``realistic,substations`` or ``substations=0.6,duplicate=0.01``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

from simulators.substation_faults import DEFAULT_SHARE


class Fault(StrEnum):
    MALFORMED = "malformed"
    WRONG_UNIT = "wrong_unit"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    CLOCK_SKEW = "clock_skew"
    COUNTER_RESET = "counter_reset"
    METER_SWAP = "meter_swap"
    BROKEN_SENSOR = "broken_sensor"
    BURST = "burst"
    SILENCE = "silence"
    SUBSTATIONS = "substations"


BROKEN_SENSOR_VALUES_C = (0.0, 185.0)  # what broken temperature sensors of heat meters report (SPEC §5)
SMALL_SKEW_S = 180.0  # within ingest's 5-minute future tolerance, so stored
LARGE_SKEW_S = (3600.0, 7200.0)  # far in the future: dead-lettered when it is ahead of the wall clock
BURST_READINGS = (3, 8)
SILENCE_READINGS = (10, 60)
MAX_HOLD_MESSAGES = 50  # out-of-order messages are released after up to this many others


@dataclass(frozen=True)
class FaultRates:
    """Probability per reading of each fault (``clock_skew``: share of devices)."""

    malformed: float = 0.0
    wrong_unit: float = 0.0
    duplicate: float = 0.0
    out_of_order: float = 0.0
    clock_skew: float = 0.0
    counter_reset: float = 0.0
    meter_swap: float = 0.0
    broken_sensor: float = 0.0
    burst: float = 0.0
    silence: float = 0.0
    substations: float = 0.0  # share of substations with a substation fault (not per reading)

    def __post_init__(self) -> None:
        for f in fields(self):
            rate = getattr(self, f.name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {f.name}={rate} must be between 0 and 1")
        per_reading = sum(getattr(self, f.name) for f in fields(self) if f.name not in _NOT_PER_READING)
        if per_reading > 1.0:
            raise ValueError(f"per-reading fault rates add up to {per_reading:.3f}, more than 1")

    @classmethod
    def realistic(cls) -> FaultRates:
        """Rates in the range a city's operators see: a fault in about one reading of 150."""
        return cls(
            malformed=0.001,
            wrong_unit=0.0005,
            duplicate=0.002,
            out_of_order=0.002,
            clock_skew=0.01,
            counter_reset=0.0001,
            meter_swap=0.0001,
            broken_sensor=0.0005,
            burst=0.0005,
            silence=0.0002,
        )

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """``"none"``, ``"realistic"``, ``"substations"`` or ``"malformed=0.01,duplicate=0.02"``, or
        several of them comma-separated (later parts win); ValueError names a bad part."""
        spec = spec.strip()
        if spec in ("", "none"):
            return cls()
        base = cls()
        rates: dict[str, float] = {}
        for part in spec.split(","):
            if part.strip() == "realistic":
                base = cls.realistic()
                continue
            if part.strip() == Fault.SUBSTATIONS:
                rates[Fault.SUBSTATIONS.value] = DEFAULT_SHARE
                continue
            name, sep, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in Fault.__members__.values():
                raise ValueError(
                    f"fault {part.strip()!r}: expected NAME=RATE with NAME one of {', '.join(Fault)}"
                )
            try:
                rates[name] = float(value)
            except ValueError:
                raise ValueError(f"fault {name}: rate {value.strip()!r} is not a number") from None
        return replace(base, **rates)

    def per_reading(self) -> list[tuple[Fault, float]]:
        """The per-reading faults with a non-zero rate, in a fixed order."""
        return [
            (Fault(f.name), getattr(self, f.name))
            for f in fields(self)
            if f.name not in _NOT_PER_READING and getattr(self, f.name) > 0
        ]


_NOT_PER_READING = frozenset({Fault.CLOCK_SKEW.value, Fault.SUBSTATIONS.value})
