"""Encoding readings in each payload format of SPEC §5, as the samples in /work/shared/samples show.

Readings arrive in the schema's quantities and canonical units; each format renames and
rescales them the way real devices of that kind send them (SenML in W and m³/s, Elsys keys
over LoRaWAN, wmbusmeters' kamheat keys, Sparkplug B metrics with aliases from the births).
This is the simulator's hot path: topics are computed once per device and payloads are
built as plain dicts for orjson.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

import orjson
from pysparkplug import DataType, DBirth, DData, Metric, NBirth, NCmd

from simulators.city import SPARKPLUG_GROUP, CityDevice, Format

# A unit no registry knows: what a misconfigured gateway sends (the "wrong units" fault).
WRONG_UNIT = "kcal"
# Formats whose payload carries units (so a wrong one can be injected) or is JSON (so it can be broken).
FORMATS_WITH_UNITS = frozenset({Format.NATIVE, Format.SENML})
JSON_FORMATS = frozenset(Format) - {Format.SPARKPLUG}
# Timestamp resolution per format: wmbusmeters prints whole seconds, the others milliseconds.
TS_RESOLUTION_S = {fmt: 1.0 if fmt is Format.WMBUSMETERS else 0.001 for fmt in Format}

Message = tuple[str, bytes]
REBIRTH_METRIC = "Node Control/Rebirth"
NCMD_FILTER = f"spBv1.0/{SPARKPLUG_GROUP}/NCMD/+"

_SENML_NAMES = {  # quantity → (SenML name, unit, factor from the canonical unit)
    "energy": ("energy", "kWh", 1.0),
    "volume": ("volume", "m3", 1.0),
    "flow": ("flow", "m3/s", 1 / 3600),
    "power": ("power", "W", 1000.0),
    "supply_temp": ("t_supply", "Cel", 1.0),
    "return_temp": ("t_return", "Cel", 1.0),
    "energy_import": ("energy_import", "kWh", 1.0),
    "energy_export": ("energy_export", "kWh", 1.0),
    "outdoor_temp": ("outdoor_temp", "Cel", 1.0),
    "info_code": ("info_code", "1", 1.0),
}
_WMBUS_KEYS = {
    "energy": "total_energy_consumption_kwh",
    "volume": "total_volume_m3",
    "flow": "volume_flow_m3h",
    "power": "power_kw",
    "supply_temp": "t1_temperature_c",
    "return_temp": "t2_temperature_c",
    "info_code": "info_codes",
}
_SPARKPLUG_METRICS = (  # (quantity, metric name, alias)
    ("energy", "heat/energy_kWh", 1),
    ("power", "heat/power_kW", 2),
    ("supply_temp", "heat/t_supply_C", 3),
    ("return_temp", "heat/t_return_C", 4),
    ("volume", "heat/volume_m3", 5),
    ("flow", "heat/flow_m3h", 6),
    ("info_code", "heat/info_code", 7),  # only meters with a meter_alarm fault send it
)


def _metrics(ts_ms: int, values: dict[str, float], *, named: bool) -> tuple[Metric, ...]:
    """The readings as Sparkplug DOUBLE metrics with their aliases; a birth names them, data does not."""
    return tuple(
        Metric(
            timestamp=ts_ms,
            name=name if named else None,
            datatype=DataType.DOUBLE,
            value=values[q],
            alias=alias,
        )
        for q, name, alias in _SPARKPLUG_METRICS
        if q in values
    )


def rfc3339(ts_s: float, *, millis: bool = True) -> str:
    """``2026-11-20T07:41:12.503Z``."""
    spec = "milliseconds" if millis else "seconds"
    return datetime.fromtimestamp(ts_s, UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def elsys_bytes(values: dict[str, float], light: int, motion: int) -> str:
    """The Elsys ERS uplink (base64) that decodes to ``values``: type-length-value records."""
    raw = struct.pack(
        ">BhBBBHBBBH",
        0x01,
        round(values["temperature"] * 10),
        0x02,
        int(values["humidity"]),
        0x04,
        light,
        0x05,
        motion,
        0x06,
        int(values["co2"]),
    )
    return base64.b64encode(raw).decode()


def rebirth_requested(payload: bytes) -> bool:
    """Whether a Sparkplug NCMD asks the edge node to publish its births again."""
    try:
        command = NCmd.decode(payload)
    except Exception:  # protobuf's DecodeError or a missing field: either way, not a rebirth request
        return False
    return any(m.name == REBIRTH_METRIC and m.value is True for m in command.metrics)


class Encoders:
    """Builds the MQTT messages of every format; keeps the per-device state formats need.

    (LoRaWAN frame counters, Sparkplug sequence numbers and which nodes and devices were born.)
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._frame_counter: dict[str, int] = {}
        self._sparkplug_seq: dict[str, int] = {}
        self._born: set[str] = set()
        # Per Sparkplug device, its last reading that ingest stores unchanged: a rebirth repeats it,
        # so a host that stores birth values rewrites an existing point instead of adding one.
        self._last_good: dict[str, dict[str, tuple[CityDevice, float, dict[str, float]]]] = {}

    def topic(self, device: CityDevice) -> str:
        """Where the device's readings are published."""
        fmt = device.format
        if fmt is Format.NATIVE:
            return f"{self.prefix}/v1/{device.id}"
        if fmt is Format.SENML:
            return f"senml/{device.gateway}/{device.serial}"
        if fmt is Format.CHIRPSTACK:
            return f"application/{device.application}/device/{device.dev_eui}/event/up"
        if fmt is Format.TTS:
            return f"v3/{device.application}/devices/{device.id}/up"
        if fmt is Format.SPARKPLUG:
            return f"spBv1.0/{SPARKPLUG_GROUP}/DDATA/{device.gateway}/{device.serial}"
        return f"wmbusmeters/{device.serial}"

    def births(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> list[Message]:
        """Sparkplug NBIRTH/DBIRTH due before the device's first DDATA (empty for other formats).

        The DBIRTH carries the same reading (values and time) as the first DDATA, so whether or
        not an adapter stores birth values, the same point results.
        """
        if device.format is not Format.SPARKPLUG or device.id in self._born:
            return []
        out: list[Message] = []
        if device.gateway not in self._sparkplug_seq:
            out.append(self._node_birth(device.gateway, ts_s))
        out.append(self._device_birth(device, ts_s, values))
        self._born.add(device.id)
        self.remember(device, ts_s, values)
        return out

    def remember(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> None:
        """Note a Sparkplug device's reading that ingest stores as sent (for rebirths)."""
        if device.format is Format.SPARKPLUG:
            self._last_good.setdefault(device.gateway, {})[device.id] = (device, ts_s, values)

    def rebirth(self, edge: str) -> list[Message]:
        """NBIRTH and every DBIRTH of an edge node again, as a host's rebirth request (NCMD) asks."""
        devices = self._last_good.get(edge)
        if not devices:
            return []
        latest = max(ts_s for _, ts_s, _ in devices.values())
        out = [self._node_birth(edge, latest)]
        out += [self._device_birth(device, ts_s, values) for device, ts_s, values in devices.values()]
        return out

    def _node_birth(self, edge: str, ts_s: float) -> Message:
        self._sparkplug_seq[edge] = 0
        ts_ms = round(ts_s * 1000)
        node_birth = NBirth(
            timestamp=ts_ms,
            seq=0,
            metrics=(
                Metric(timestamp=ts_ms, name="bdSeq", datatype=DataType.INT64, value=0),
                Metric(timestamp=ts_ms, name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, value=False),
            ),
        )
        return (f"spBv1.0/{SPARKPLUG_GROUP}/NBIRTH/{edge}", node_birth.encode(include_dtypes=True))

    def _device_birth(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> Message:
        ts_ms = round(ts_s * 1000)
        metrics = _metrics(ts_ms, values, named=True)
        birth = DBirth(timestamp=ts_ms, seq=self._next_seq(device.gateway), metrics=metrics)
        topic = f"spBv1.0/{SPARKPLUG_GROUP}/DBIRTH/{device.gateway}/{device.serial}"
        return (topic, birth.encode(include_dtypes=True))

    def _next_seq(self, edge: str) -> int:
        seq = self._sparkplug_seq[edge] = (self._sparkplug_seq[edge] + 1) % 256
        return seq

    def encode(
        self, device: CityDevice, ts_s: float, values: dict[str, float], *, wrong_unit: bool = False
    ) -> bytes:
        """One reading as the device's format sends it; ``wrong_unit`` labels a value with an unknown unit."""
        fmt = device.format
        if fmt is Format.NATIVE:
            body: dict[str, object] = dict(values)
            if wrong_unit:
                first = next(iter(values))
                body[first] = {"value": values[first], "unit": WRONG_UNIT}
            return orjson.dumps({"ts": ts_s, "values": body})
        if fmt is Format.SENML:
            return orjson.dumps(self._senml(device, ts_s, values, wrong_unit))
        if fmt is Format.CHIRPSTACK:
            return orjson.dumps(self._chirpstack(device, ts_s, values))
        if fmt is Format.TTS:
            return orjson.dumps(self._tts(device, ts_s, values))
        if fmt is Format.SPARKPLUG:
            return self._sparkplug(device, ts_s, values)
        return orjson.dumps(self._wmbusmeters(device, ts_s, values))

    def encode_burst(self, device: CityDevice, readings: list[tuple[float, dict[str, float]]]) -> list[bytes]:
        """A backlog flushed at once: native sends one array, the other formats one message each."""
        if device.format is Format.NATIVE:
            return [orjson.dumps([{"ts": ts_s, "values": values} for ts_s, values in readings])]
        return [self.encode(device, ts_s, values) for ts_s, values in readings]

    @staticmethod
    def _senml(
        device: CityDevice, ts_s: float, values: dict[str, float], wrong_unit: bool
    ) -> list[dict[str, object]]:
        records: list[dict[str, object]] = []
        for quantity, value in values.items():
            name, unit, factor = _SENML_NAMES[quantity]
            records.append(
                {"n": name, "u": WRONG_UNIT if wrong_unit and not records else unit, "v": value * factor}
            )
        records[0] = {"bn": device.senml_base_name, "bt": ts_s, **records[0]}
        return records

    def _frame(self, device: CityDevice) -> int:
        count = self._frame_counter[device.id] = self._frame_counter.get(device.id, 0) + 1
        return count

    def _chirpstack(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> dict[str, object]:
        f_cnt = self._frame(device)
        light, motion = (f_cnt * 37) % 400, f_cnt % 7
        app = device.application
        return {
            "deduplicationId": f"{f_cnt:08x}-{device.dev_eui[8:12]}-4000-8000-{device.dev_eui[4:]}",
            "time": rfc3339(ts_s),
            "deviceInfo": {
                "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
                "tenantName": "Borlänge",
                "applicationId": app,
                "applicationName": "indoor-climate",
                "deviceProfileName": "Elsys ERS CO2",
                "deviceName": device.id,
                "devEui": device.dev_eui,
                "tags": {"site": device.site_id},
            },
            "devAddr": device.dev_eui[-8:],
            "adr": True,
            "dr": 5,
            "fCnt": f_cnt,
            "fPort": 5,
            "confirmed": False,
            "data": elsys_bytes(values, light, motion),
            "object": {**values, "light": light, "motion": motion},
            "rxInfo": [{"gatewayId": "2cf7f11081400088", "rssi": -90 - f_cnt % 20, "snr": 4.5}],
        }

    def _tts(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> dict[str, object]:
        f_cnt = self._frame(device)
        light, motion = (f_cnt * 37) % 400, f_cnt % 7
        app = device.application.split("@", 1)[0]
        at = rfc3339(ts_s)
        return {
            "end_device_ids": {
                "device_id": device.id,
                "application_ids": {"application_id": app},
                "dev_eui": device.dev_eui.upper(),
                "dev_addr": device.dev_eui[-8:].upper(),
            },
            "received_at": at,
            "uplink_message": {
                "f_port": 5,
                "f_cnt": f_cnt,
                "frm_payload": elsys_bytes(values, light, motion),
                "decoded_payload": {**values, "light": light, "motion": motion},
                "rx_metadata": [{"gateway_ids": {"gateway_id": "borlange-gw-03"}, "rssi": -68, "snr": 9.2}],
                "received_at": at,
            },
        }

    @staticmethod
    def _wmbusmeters(device: CityDevice, ts_s: float, values: dict[str, float]) -> dict[str, object]:
        doc: dict[str, object] = {
            "_": "telegram",
            "media": "heat",
            "meter": "kamheat",
            "name": device.serial,
            "id": device.serial.rsplit("-", 1)[-1],
        }
        for quantity, value in values.items():
            doc[_WMBUS_KEYS[quantity]] = value
        doc["status"] = "OK"
        doc["timestamp"] = rfc3339(ts_s, millis=False)
        return doc

    def _sparkplug(self, device: CityDevice, ts_s: float, values: dict[str, float]) -> bytes:
        ts_ms = round(ts_s * 1000)
        metrics = _metrics(ts_ms, values, named=False)
        return DData(timestamp=ts_ms, seq=self._next_seq(device.gateway), metrics=metrics).encode(
            include_dtypes=True
        )
