"""Normalisation: raw readings → points in canonical units, or reasons they cannot be stored.

Pure and synchronous: no I/O, so it is unit-tested without servers and runs on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from energy_core.errors import PayloadError, Reason
from energy_core.registry import Registry, ResolvedDevice
from energy_core.schema import (
    MEASUREMENT_OF_KIND,
    QUANTITIES,
    DeviceKind,
    Measurement,
    Point,
    Quantity,
    RawReading,
)
from energy_core.timeutil import NS
from ingest import units

FUTURE_TOLERANCE_NS = 5 * 60 * NS  # SPEC §5: reject timestamps more than 5 minutes in the future


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reading (or part of one) that goes to the dead letters, and why."""

    reason: Reason
    detail: str
    device_key: str | None = None


@dataclass(slots=True)
class Normalised:
    points: list[Point]
    rejections: list[Rejection]
    devices: list[tuple[ResolvedDevice, Point]]  # the measurement points with their device, for derivations


class Normaliser:
    """Turns RawReadings into Points using the registry and the unknown-device policy."""

    def __init__(
        self,
        registry: Registry,
        *,
        unknown_devices: Literal["reject", "accept"] = "reject",
        max_age_ns: int = 400 * 86400 * NS,
        vendor_maps: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.registry = registry
        self.accept_unknown = unknown_devices == "accept"
        self.max_age_ns = max_age_ns
        self.vendor_maps = vendor_maps or {}
        self._unassigned: dict[str, ResolvedDevice] = {}  # commissioning-mode stand-ins, built once per key
        # The hot path's lookup: per device kind, each of its own quantities and where it lands.
        self._targets: dict[DeviceKind, dict[str, tuple[Quantity, Measurement]]] = {
            kind: {q.name: (q, measurement) for q in QUANTITIES.values() if kind in q.kinds}
            for kind, measurement in MEASUREMENT_OF_KIND.items()
        }

    def normalise(
        self,
        readings: Iterable[RawReading],
        received_ns: int,
        *,
        speaker: str | None = None,
        topic: str = "",
    ) -> Normalised:
        """Points and rejections of ``readings``.

        ``speaker`` is the topic level the broker binds to the publishing user when the devices
        are named in the payload (``Router.speaker``): a registered device that it may not speak
        for is rejected as ``device_not_allowed``. None: the topic itself vouches for the device.
        """
        out = Normalised([], [], [])
        for reading in readings:
            try:
                self._one(reading, received_ns, out, speaker, topic)
            except PayloadError as exc:
                out.rejections.append(Rejection(exc.reason, exc.detail, reading.device_key))
        return out

    def _one(
        self, reading: RawReading, received_ns: int, out: Normalised, speaker: str | None, topic: str
    ) -> None:
        device = self.registry.resolve(reading.device_key)
        for alt_key in reading.alt_keys if device is None else ():
            device = self.registry.resolve(alt_key)
            if device is not None:
                break
        kind = None if device is None else device.kind
        if device is None:
            if not self.accept_unknown:
                raise PayloadError(Reason.UNKNOWN_DEVICE, f"device {reading.device_key!r} is not registered")
            device = self._unassigned.get(reading.device_key)
            if device is None:
                device = Registry.unassigned(reading.device_key)
                if len(self._unassigned) < 100_000:
                    self._unassigned[reading.device_key] = device
            kind = self._infer_kind(reading)
        elif speaker is not None and not device.may_speak(speaker):
            # The ACL fixes the topic, not the payload: a sensor's own credentials must not report
            # for another owner's meter by naming it (docs/deploy.md, "Device identity").
            raise PayloadError(
                Reason.DEVICE_NOT_ALLOWED,
                f"topic {topic!r} (speaker {speaker!r}) may not report for device {device.id!r}"
                f" (named as {reading.device_key!r}): not its id, an external id or one of its gateways",
            )

        ts_ns = received_ns if reading.ts_ns is None else reading.ts_ns
        if ts_ns > received_ns + FUTURE_TOLERANCE_NS:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"{ts_ns} is more than 5 min in the future")
        if ts_ns < received_ns - self.max_age_ns:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"{ts_ns} is older than the configured max age")

        by_measurement: dict[Measurement, dict[str, float]] = {}
        implausible: list[str] = []
        # A device with its own field map takes the slow path, where that map comes first.
        targets = self._targets.get(kind) if kind is not None and not device.field_map else None
        for key, (value, unit) in reading.values.items():
            target = targets.get(key) if targets is not None else None
            if target is None:
                target = self._target(device, kind, key, reading)
                if target is None:
                    continue  # vendor extras (light, motion, rssi…) are not part of the schema
            quantity, measurement = target
            canonical = value if unit is None else units.convert(value, unit, quantity.unit)
            # Comparisons with NaN are false, and the bounds are finite: this also rejects NaN and ±inf.
            if not quantity.low <= canonical <= quantity.high:
                implausible.append(f"{quantity.field}={value!r}{' ' + unit if unit else ''}")
                continue
            fields = by_measurement.get(measurement)
            if fields is None:
                fields = by_measurement[measurement] = {}
            fields[quantity.field] = canonical if type(canonical) is float else float(canonical)

        if implausible:
            out.rejections.append(
                Rejection(
                    Reason.IMPLAUSIBLE_VALUE, "out of range: " + ", ".join(implausible), reading.device_key
                )
            )
        if not by_measurement and not implausible:
            raise PayloadError(Reason.SCHEMA, "no known quantity in the reading")

        for measurement, fields in by_measurement.items():
            if measurement is Measurement.DISTRICT_HEATING:
                supply, ret = fields.get("supply_temp_c"), fields.get("return_temp_c")
                if supply is not None and ret is not None and "delta_t_k" not in fields:
                    fields["delta_t_k"] = supply - ret
            point = Point(measurement.value, device.tags, fields, ts_ns)
            out.points.append(point)
            out.devices.append((device, point))

    def _target(
        self, device: ResolvedDevice, kind: DeviceKind | None, key: str, reading: RawReading
    ) -> tuple[Quantity, Measurement] | None:
        """Where a key that is not one of the kind's own quantities goes (the slow path).

        The device's own field map comes first, then quantity names, then the kind's vendor map
        (for an unregistered device: the kind inferred from its reading); a quantity of another
        device kind is a schema error for a registered device, and lands in its own measurement
        for an unregistered one.
        """
        mapped = device.field_map.get(key)
        quantity = QUANTITIES.get(mapped) if mapped else QUANTITIES.get(key)
        if quantity is None and kind is not None:
            mapped = self.vendor_maps.get(kind, {}).get(key)
            quantity = QUANTITIES.get(mapped) if mapped else None
        if quantity is None:
            return None
        if device.kind is None:
            if kind is not None and kind in quantity.kinds:
                return quantity, MEASUREMENT_OF_KIND[kind]
            return quantity, self._infer(quantity.name, reading)
        if device.kind not in quantity.kinds:
            raise PayloadError(Reason.SCHEMA, f"{device.kind} {device.id!r} cannot report {quantity.name!r}")
        return quantity, MEASUREMENT_OF_KIND[device.kind]

    def _infer_kind(self, reading: RawReading) -> DeviceKind | None:
        """An unregistered device's kind: the one whose quantities and vendor keys the reading
        names most (ties: heat meter, electricity meter, indoor sensor, weather station).

        Commissioning mode has no registry entry to say what a device is, yet a SenML heat
        meter's ``t_supply``/``t_return`` only mean something through the heat-meter vendor map.
        """
        best, best_count = None, 0
        for kind in MEASUREMENT_OF_KIND:
            vendor = self.vendor_maps.get(kind, {})
            count = 0
            for key in reading.values:
                quantity = QUANTITIES.get(key) or QUANTITIES.get(vendor.get(key, ""))
                count += quantity is not None and kind in quantity.kinds
            if count > best_count:
                best, best_count = kind, count
        return best

    @staticmethod
    def _infer(name: str, reading: RawReading) -> Measurement:
        """Measurement of an unregistered device's quantity that is not of its inferred kind."""
        if name == "power" and ("energy_import" in reading.values or "energy_export" in reading.values):
            return Measurement.ELECTRICITY
        return MEASUREMENT_OF_KIND[QUANTITIES[name].kinds[0]]
