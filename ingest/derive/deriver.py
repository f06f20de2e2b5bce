"""The derive step of the pipeline: thermal power, interval energy and emissions from normalised points.

    Normalised.devices ──► thermal power (in place) ──► EnergyState.observe ──► plausible? ──► energy
                                                                           └─ no: 0 kWh, implausible_energy

It runs on the event loop's hot path, once per measurement point; the per-series tags of the
derived points are built once and cached.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Protocol

import structlog

from energy_core.errors import Reason
from energy_core.factors import EmissionFactors
from energy_core.registry import Registry, ResolvedDevice
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY, Measurement, Point
from ingest.config import IngestSettings
from ingest.derive.energy import Changes, EnergyState, Interval
from ingest.derive.plausible import EnergyLimits, ImplausibleEnergy, energy_limits
from ingest.derive.power import add_thermal_power
from ingest.derive.state import EnergyStore
from ingest.normalise import Rejection

log = structlog.get_logger("ingest.derive")

# The register each measurement's interval energy comes from, and its carrier.
REGISTERS: dict[str, tuple[str, str]] = {
    Measurement.DISTRICT_HEATING.value: ("energy_kwh", CARRIER_DISTRICT_HEAT),
    Measurement.ELECTRICITY.value: ("energy_import_kwh", CARRIER_ELECTRICITY),
}
HISTORY_FILE = "energy.sqlite"  # in INGEST_DATA_DIR
_SEP = "\x1f"  # between device id and carrier in a series key: cannot occur in either


def series_key(device_id: str, carrier: str) -> str:
    return f"{device_id}{_SEP}{carrier}"


def parse_series_key(series: str) -> tuple[str, str]:
    """``(device id, carrier)`` of a :func:`series_key`."""
    device_id, _, carrier = series.rpartition(_SEP)
    return device_id, carrier


class LateSink(Protocol):
    """Where the deriver reports register readings its history cannot place (the healer,
    :mod:`ingest.derive.heal`): ``note`` on the hot path, ``save`` at batch commit."""

    def note(self, series: str, ts_ns: int) -> None: ...

    async def save(self) -> None: ...


_Tags = tuple[tuple[str, str], ...]


def with_tags(tags: _Tags, **extra: str) -> _Tags:
    """Device tags plus more, sorted as the line protocol encoder expects."""
    return tuple(sorted((*tags, *extra.items())))


class DerivedPoints:
    """Builds the ``energy`` and ``emissions`` points of intervals (shared by live ingest and backfill)."""

    def __init__(self, factors: EmissionFactors) -> None:
        self.factors = factors
        # Per series key: the device's tags, and what is derived from them (built once per series).
        self._tags: dict[str, tuple[_Tags, _Tags, str, dict[str, _Tags]]] = {}

    def points(self, tags: _Tags, network: str | None, carrier: str, interval: Interval) -> list[Point]:
        """The ``energy`` point of ``interval`` and its ``emissions`` points (one per method)."""
        cached = self._tags.get(interval.series)
        if cached is None or cached[0] != tags:
            area = self.factors.area_for(carrier, network)
            by_method = {
                method: with_tags(tags, carrier=carrier, method=method)
                for method in self.factors.methods(carrier, area)
            }
            energy_tags = with_tags(tags, carrier=carrier)
            cached = self._tags[interval.series] = (tags, energy_tags, area, by_method)
        _, energy_tags, area, method_tags = cached
        out = [Point(Measurement.ENERGY.value, energy_tags, {"kwh": interval.kwh}, interval.end_ns)]
        for share in self.factors.interval_emissions(
            carrier, area, interval.start_ns, interval.end_ns, interval.kwh
        ):
            out.append(
                Point(
                    Measurement.EMISSIONS.value,
                    method_tags[share.method],
                    {"co2e_kg": share.co2e_kg, "factor_g_per_kwh": share.factor_g_per_kwh},
                    interval.end_ns,
                )
            )
        return out


class Deriver:
    """Derivations with state: call :meth:`derive` per message and :meth:`commit` per batch commit.

    With ``energy=False`` (``INGEST_ENERGY=off``) only thermal power is derived: no register
    history is kept and no ``energy``/``emissions`` points are made (the follower writes them).
    """

    def __init__(
        self,
        factors: EmissionFactors,
        state: EnergyState | None = None,
        store: EnergyStore | None = None,
        *,
        energy: bool = True,
        limits: EnergyLimits | None = None,
    ) -> None:
        self.factors = factors
        self.energy = energy
        self.limits = limits or EnergyLimits()
        self.state = state or EnergyState(track_changes=store is not None)
        self.store = store
        self.builder = DerivedPoints(factors)
        self._too_late_logged = 0
        self._unsaved: list[Changes] = []
        self._saving = asyncio.Lock()
        # Late readings go to the healer (ingest/derive/heal.py): live, those older than a series'
        # floor; with energy off, those older than ``late_before_ns`` (the follower's window).
        self.late_sink: LateSink | None = None
        self.late_before_ns: int | None = None

    @classmethod
    def open(cls, data_dir: Path, factors_file: Path | None, limits: EnergyLimits | None = None) -> Deriver:
        """Load the factors (ConfigError when bad) and the persisted register history of ``data_dir``."""
        factors = EmissionFactors.load(factors_file)
        store = EnergyStore(data_dir / HISTORY_FILE)
        state = EnergyState()
        try:
            readings = store.restore(state)
        except BaseException:
            store.close()  # the store's thread must not outlive a history that could not be read
            raise
        log.info(
            "energy_state_restored",
            series=len(state.histories),
            readings=readings,
            factors_version=factors.version,
        )
        return cls(factors, state, store, limits=limits)

    @classmethod
    def for_settings(cls, settings: IngestSettings, registry: Registry | None = None) -> Deriver:
        """The deriver ``INGEST_ENERGY`` asks for; warns when live energy meets a shared group.

        ``registry`` gives each meter's power limit (``max_power_kw``, site area) for the
        plausibility of interval energy; without it the carriers' defaults apply.
        """
        if settings.ingest_energy == "off":
            # A history left from an earlier live run would be stale by the time live mode is
            # back, and its first interval would then double-count what the follower wrote.
            stale = settings.ingest_data_dir / HISTORY_FILE
            if stale.exists():
                for suffix in ("", "-wal", "-shm"):  # with SQLite's write-ahead log, if left by a crash
                    stale.with_name(stale.name + suffix).unlink(missing_ok=True)
                log.warning("energy_history_discarded", path=str(stale), reason="INGEST_ENERGY=off")
            log.info("energy_live_off", hint="run `python -m ingest energy --follow` (one instance)")
            return cls(EmissionFactors.load(settings.emission_factors_file), energy=False)
        if settings.ingest_shared_group:
            log.warning(
                "energy_live_with_shared_group",
                shared_group=settings.ingest_shared_group,
                problem="each member derives energy from only the readings the broker hands it; with "
                "round-robin dispatch (Mosquitto, most brokers' default) the stored energy and emissions "
                "are counted several times over",
                fix="set INGEST_ENERGY=off on every member and run one `python -m ingest energy --follow`, "
                "unless the broker dispatches each device to one member (e.g. EMQX hash_topic)",
            )
        return cls.open(
            settings.ingest_data_dir, settings.emission_factors_file, energy_limits(settings, registry)
        )

    def derive(
        self, devices: list[tuple[ResolvedDevice, Point]], rejections: list[Rejection] | None = None
    ) -> list[Point]:
        """Add derived power to district-heating points in place; return energy and emissions points.

        An implausible interval (:mod:`ingest.derive.plausible`) is written as 0 kWh and appended
        to ``rejections`` as ``implausible_energy``, with its evidence: the message is dead-lettered
        (its readings are stored all the same), and a replay after raising the meter's
        ``max_power_kw`` books the interval.
        """
        out: list[Point] = []
        for device, point in devices:
            register = REGISTERS.get(point.measurement)
            if register is None:
                continue
            field, carrier = register
            if carrier == CARRIER_DISTRICT_HEAT:
                add_thermal_power(point.fields, device.flow_sensor)
            if not self.energy:
                late = self.late_before_ns
                if (
                    self.late_sink is not None
                    and late is not None
                    and field in point.fields
                    and point.ts_ns < time.time_ns() - late
                ):
                    self.late_sink.note(series_key(device.id, carrier), point.ts_ns)
                continue
            kwh = point.fields.get(field)
            if kwh is None:
                continue
            too_late = self.state.too_late
            key = series_key(device.id, carrier)
            for interval in self.state.observe(key, point.ts_ns, kwh):
                implausible = self.limits.check(device.id, carrier, interval)
                if implausible is not None:
                    self._implausible(device, carrier, implausible, point, rejections)
                    interval = interval._replace(kwh=0.0)
                out.extend(self.builder.points(device.tags, device.network, carrier, interval))
            if self.state.too_late != too_late and self.late_sink is not None:
                self.late_sink.note(key, point.ts_ns)
        return out

    def _implausible(
        self,
        device: ResolvedDevice,
        carrier: str,
        implausible: ImplausibleEnergy,
        point: Point,
        rejections: list[Rejection] | None,
    ) -> None:
        reported = point.fields.get("power_kw")
        detail = f"{carrier} interval of {device.id}: {implausible.detail()}"
        if reported is not None:
            detail += f"; this reading reports power_kw={reported:g}"
        log.warning(
            "energy_implausible",
            device=device.id,
            carrier=carrier,
            path="live",
            reported_power_kw=reported,
            **implausible.log_fields(),
        )
        if rejections is not None:
            rejections.append(Rejection(Reason.IMPLAUSIBLE_ENERGY, detail, device.id))

    async def commit(self) -> None:
        """Persist the register history; call after the batch's points are durable, before acking."""
        if self.store is not None:
            # Changes whose save failed (disk full: StoreError) stay queued and go first next time.
            # The lock keeps two overlapping commits from saving (and popping) the same changes.
            self._unsaved.append(self.state.take_changes())
            async with self._saving:
                while self._unsaved:
                    await self.store.save(self._unsaved[0])
                    self._unsaved.pop(0)
        if self.late_sink is not None:
            await self.late_sink.save()  # the pending heals, durable before the acks
        if self.state.too_late != self._too_late_logged:
            log.warning(
                "energy_readings_too_late",
                total=self.state.too_late,
                hint="older than the kept register history; healed from InfluxDB after INGEST_HEAL_DELAY_S"
                if self.late_sink is not None
                else "older than the kept register history; run `python -m ingest backfill` for that range",
            )
            self._too_late_logged = self.state.too_late

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
