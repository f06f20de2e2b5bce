"""Plausible interval energy: a register can grow only as fast as its meter can deliver power.

An interval of ``kwh`` over ``seconds`` is plausible when

    kwh ≤ limit_kw × seconds / 3600 + resolution_kwh

- ``limit_kw`` is the most power that meter can deliver: the device's ``max_power_kw`` in
  ``ASSETS_FILE`` when set; else, for district heat on a site with ``floor_area_m2``,
  ``max(floor_area_m2 × INGEST_MAX_HEAT_W_PER_M2, DHW_PEAK_KW)``; else the carrier's
  ``INGEST_MAX_POWER_KW_DISTRICT_HEAT`` / ``INGEST_MAX_POWER_KW_ELECTRICITY``.
- ``resolution_kwh`` (``INGEST_ENERGY_RESOLUTION_KWH``) forgives the register's resolution: a
  1 kWh register may tick once within 19 s on a 6 kW meter (189 kW "on average"), which is not
  an anomaly. It also absorbs a short hot-water peak above the area bound.

The rule is about the *average* power over the interval, so a first reading after a long gap is
fine when the gap's average is plausible. An implausible interval (a meter swap to a used meter
with a higher register, a restored old register, a restarted simulator) is not booked: it is
written as 0 kWh (overwriting whatever an earlier pass or order of arrival stored at that
timestamp, so that the backfill repairs history too), and its evidence goes to the dead letters
(live ingest) or to a log line and a count (backfill, follower). The next interval is computed
from the implausible reading's value: it is the new baseline.

Thresholds and their sources: docs/emissions.md, "Plausible interval energy".
Used by live ingest (:mod:`ingest.derive.deriver`) and by the backfill and the follower
(:mod:`ingest.derive.backfill`): one rule for all three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from energy_core.registry import Registry
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY
from energy_core.timeutil import NS
from ingest.config import IngestSettings
from ingest.derive.energy import Interval

# Domestic hot water: a tap flow of 0.25 l/s heated from 10 to 55 °C takes
# 0.25 kg/s × 4.18 kJ/(kg·K) × 45 K ≈ 47 kW, whatever the floor area; rounded up.
DHW_PEAK_KW = 50.0
DEFAULT_MAX_POWER_KW: Mapping[str, float] = {
    CARRIER_DISTRICT_HEAT: 10_000.0,  # a large hospital or industrial substation
    CARRIER_ELECTRICITY: 2_000.0,  # above a 3 × 1,600 A (1.1 MW) low-voltage connection
}
DEFAULT_HEAT_W_PER_M2 = 250.0  # 4–6 × the 40–60 W/m² design load of Swedish building stock
DEFAULT_RESOLUTION_KWH = 10.0  # a large meter's register in 0.01 MWh steps

LIMIT_DEVICE = "max_power_kw"
LIMIT_AREA = "floor_area"
LIMIT_DEFAULT = "carrier_default"


@dataclass(frozen=True, slots=True)
class PowerLimit:
    """The most power a meter can deliver, and where that figure comes from."""

    kw: float
    source: str  # LIMIT_DEVICE, LIMIT_AREA or LIMIT_DEFAULT
    basis: str  # human: "max_power_kw 6 kW", "259 m² × 250 W/m²", "INGEST_MAX_POWER_KW_DISTRICT_HEAT"


@dataclass(frozen=True, slots=True)
class ImplausibleEnergy:
    """Evidence that an interval's energy exceeds what its meter could have delivered."""

    interval: Interval
    seconds: float
    implied_kw: float  # the interval's average power; inf for a zero-length interval
    limit: PowerLimit
    allowed_kwh: float  # limit × elapsed + resolution

    def detail(self) -> str:
        """One line for the dead letter: kWh, seconds, implied kW, limit kW and which limit."""
        i = self.interval
        return (
            f"{i.kwh:.3f} kWh in {self.seconds:.1f} s ({_iso(i.start_ns)} to {_iso(i.end_ns)}) "
            f"is {self.implied_kw:.1f} kW on average, above the {self.limit.kw:.1f} kW limit "
            f"({self.limit.source}: {self.limit.basis}); at most {self.allowed_kwh:.3f} kWh is plausible; "
            "not booked, the next interval counts from this reading"
        )

    def log_fields(self) -> dict[str, object]:
        i = self.interval
        return {
            "kwh": round(i.kwh, 3),
            "seconds": round(self.seconds, 3),
            "implied_kw": round(self.implied_kw, 1) if math.isfinite(self.implied_kw) else "inf",
            "limit_kw": round(self.limit.kw, 3),
            "limit": self.limit.source,
            "limit_basis": self.limit.basis,
            "allowed_kwh": round(self.allowed_kwh, 3),
            "start": _iso(i.start_ns),
            "end": _iso(i.end_ns),
        }


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_interval(interval: Interval, limit: PowerLimit, resolution_kwh: float) -> ImplausibleEnergy | None:
    """None when ``interval`` is plausible for ``limit``, else the evidence. Pure."""
    seconds = (interval.end_ns - interval.start_ns) / NS
    allowed_kwh = limit.kw * seconds / 3600.0 + resolution_kwh
    if interval.kwh <= allowed_kwh:
        return None
    implied_kw = interval.kwh * 3600.0 / seconds if seconds > 0 else math.inf
    return ImplausibleEnergy(interval, seconds, implied_kw, limit, allowed_kwh)


def power_limit(
    carrier: str,
    *,
    max_power_kw: float | None = None,
    floor_area_m2: float | None = None,
    heat_w_per_m2: float = DEFAULT_HEAT_W_PER_M2,
    default_kw: Mapping[str, float] = DEFAULT_MAX_POWER_KW,
) -> PowerLimit:
    """The limit of one meter: its configured maximum, else its site's size (heat), else the default.

    Floor area bounds heat only: electricity has no such tie to it (EV chargers, electric
    boilers, server rooms); give an electricity meter its main fuse as ``max_power_kw``.
    """
    if max_power_kw is not None:
        return PowerLimit(max_power_kw, LIMIT_DEVICE, f"max_power_kw {max_power_kw:g} kW")
    if carrier == CARRIER_DISTRICT_HEAT and floor_area_m2 is not None:
        kw = max(floor_area_m2 * heat_w_per_m2 / 1000.0, DHW_PEAK_KW)
        return PowerLimit(
            kw, LIMIT_AREA, f"{floor_area_m2:g} m² × {heat_w_per_m2:g} W/m², at least {DHW_PEAK_KW:g} kW"
        )
    kw = default_kw.get(carrier, max(default_kw.values()))
    return PowerLimit(kw, LIMIT_DEFAULT, f"INGEST_MAX_POWER_KW_{carrier.upper()} {kw:g} kW")


@dataclass(frozen=True, slots=True)
class MeterFacts:
    """What the registry says about one device that bears on its power limit."""

    max_power_kw: float | None = None
    floor_area_m2: float | None = None


class EnergyLimits:
    """The plausibility rule with its configuration and the registry's facts, per device and carrier.

    Limits are computed once per registered (device, carrier) and cached: the hot path pays a
    dict lookup. Devices without a registry entry (commissioning mode, any key a payload names)
    share their carrier's default, so the cache is bounded by the registry.
    """

    def __init__(
        self,
        meters: Mapping[str, MeterFacts] | None = None,
        *,
        default_kw: Mapping[str, float] = DEFAULT_MAX_POWER_KW,
        heat_w_per_m2: float = DEFAULT_HEAT_W_PER_M2,
        resolution_kwh: float = DEFAULT_RESOLUTION_KWH,
    ) -> None:
        self.meters = dict(meters or {})
        self.default_kw = dict(default_kw)
        self.heat_w_per_m2 = heat_w_per_m2
        self.resolution_kwh = resolution_kwh
        self._limits: dict[tuple[str, str], PowerLimit] = {}

    def limit(self, device_id: str, carrier: str) -> PowerLimit:
        facts = self.meters.get(device_id)
        key = (device_id if facts is not None else "", carrier)
        found = self._limits.get(key)
        if found is None:
            facts = facts or MeterFacts()
            found = self._limits[key] = power_limit(
                carrier,
                max_power_kw=facts.max_power_kw,
                floor_area_m2=facts.floor_area_m2,
                heat_w_per_m2=self.heat_w_per_m2,
                default_kw=self.default_kw,
            )
        return found

    def check(self, device_id: str, carrier: str, interval: Interval) -> ImplausibleEnergy | None:
        """None when plausible, else the evidence (see :func:`check_interval`)."""
        return check_interval(interval, self.limit(device_id, carrier), self.resolution_kwh)


def energy_limits(settings: IngestSettings, registry: Registry | None) -> EnergyLimits:
    """The rule as configured (``INGEST_MAX_POWER_KW_*``, ``INGEST_MAX_HEAT_W_PER_M2``,
    ``INGEST_ENERGY_RESOLUTION_KWH``) with each registered device's ``max_power_kw`` and site area."""
    meters: dict[str, MeterFacts] = {}
    if registry is not None:
        for device in registry.devices.values():
            site = registry.sites.get(device.site)
            meters[device.id] = MeterFacts(device.max_power_kw, site.floor_area_m2 if site else None)
    return EnergyLimits(
        meters,
        default_kw={
            CARRIER_DISTRICT_HEAT: settings.ingest_max_power_kw_district_heat,
            CARRIER_ELECTRICITY: settings.ingest_max_power_kw_electricity,
        },
        heat_w_per_m2=settings.ingest_max_heat_w_per_m2,
        resolution_kwh=settings.ingest_energy_resolution_kwh,
    )
