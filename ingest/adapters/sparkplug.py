"""Sparkplug B (Eclipse Sparkplug 3.0): ``spBv1.0/{group}/{type}/{edge_node}[/{device}]``.

Payloads are protobuf, encoded and decoded with pysparkplug (the Sparkplug ``Payload`` and
``Metric`` types; no hand-written protobuf). Births (NBIRTH, DBIRTH) announce each metric's
name, datatype and alias; DATA messages may then carry only aliases. The births live in
this adapter instance (the Router keeps one per route), keyed by node and device:

- NBIRTH stores the node's birth and forgets its devices' births (they must be re-born);
- DBIRTH stores the device's birth; NDEATH (with the birth's ``bdSeq``) and DDEATH forget;
- NDATA/DDATA are decoded against the stored birth. Without one, or with an alias the birth
  did not announce, the message is dead-lettered as ``sparkplug_no_birth`` (never guessed)
  and a rebirth request for the node is queued.

Rebirth requests: the adapter is pure and cannot publish. ``take_rebirth_requests()``
returns (and clears) the ``NCMD`` messages (``Node Control/Rebirth`` = true); the ingest
service publishes them, at most one per node every 30 s
(tests/integration/test_sparkplug_rebirth.py).

Device keys: ``{group}/{edge_node}/{device}``, and ``{group}/{edge_node}`` for node metrics.
Births carry current values, so they are ingested like DATA. Metric names are the reading's
keys (``heat/energy_kWh``, mapped to quantities by the vendor maps); a last ``_`` part that
is a known unit (``kWh``, ``kW``, ``C``) is the value's unit. Times are the metric's own
timestamp, else the payload's (ms since the epoch). Sequence numbers are not checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import DecodeError
from pysparkplug import DataType, DBirth, DData, Metric, NBirth, NCmd, NData, NDeath

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from ingest import units
from ingest.adapters.identity import TopicBinding

NAMESPACE = "spBv1.0"
MAX_BIRTHS = 100_000  # bounds the state a flood of made-up node/device names can create
MAX_REBIRTH_REQUESTS = 10_000
MS = 1_000_000
_CONTROL_PREFIXES = ("Node Control/", "Device Control/", "Properties/", "bdSeq")
_UNITS = {suffix: suffix for suffix in units.known_units()}
# What decoding a malformed payload raises inside protobuf and pysparkplug (bad wire data,
# unknown datatype enum, out-of-range ints, a birth without names or datatypes).
_DECODE_ERRORS = (DecodeError, ValueError, TypeError, OverflowError, IndexError, AttributeError)

NodeKey = tuple[str, str]
_K = TypeVar("_K")
_V = TypeVar("_V")
_Birth = TypeVar("_Birth", NBirth, DBirth)
DeviceKey = tuple[str, str, str]


class SparkplugAdapter:
    """Reads Sparkplug B messages, keeping the births needed to resolve aliases."""

    name = "sparkplug"
    binding: TopicBinding = "topic"

    def __init__(self) -> None:
        self.node_births: dict[NodeKey, NBirth] = {}
        self.node_bdseq: dict[NodeKey, int] = {}
        self.device_births: dict[DeviceKey, DBirth] = {}
        self._rebirths: dict[str, bytes] = {}

    def parse(self, message: Message) -> list[RawReading]:
        levels = message.topic.split("/")
        try:
            at = levels.index(NAMESPACE)  # a bridge may have put a prefix before the namespace
        except ValueError:
            raise PayloadError(Reason.SCHEMA, f"topic is not in the {NAMESPACE} namespace") from None
        levels = levels[at:]
        if len(levels) >= 2 and levels[1] == "STATE":
            return []  # a host application's online state, not sensor data
        if len(levels) not in (4, 5) or not all(levels[1:]):
            raise PayloadError(Reason.SCHEMA, "topic must be spBv1.0/group/TYPE/edge_node[/device]")
        group, kind, edge = levels[1], levels[2], levels[3]
        node: NodeKey = (group, edge)
        device = levels[4] if len(levels) == 5 else None
        if kind in ("NCMD", "DCMD"):
            return []  # commands go to edge nodes; nothing to store
        if (device is None) != kind.startswith("N"):
            raise PayloadError(Reason.SCHEMA, f"{kind} does not fit topic {message.topic!r}")
        if kind == "NBIRTH":
            return self._node_birth(node, message)
        if kind == "DBIRTH" and device is not None:
            return self._device_birth((group, edge, device), message)
        if kind == "NDATA":
            return self._data(node, None, self.node_births.get(node), message)
        if kind == "DDATA" and device is not None:
            return self._data(node, device, self.device_births.get((group, edge, device)), message)
        if kind == "NDEATH":
            self._node_death(node, message.payload)
            return []
        if kind == "DDEATH" and device is not None:
            self.device_births.pop((group, edge, device), None)
            return []
        raise PayloadError(Reason.SCHEMA, f"unknown Sparkplug message type {kind!r}")

    def take_rebirth_requests(self) -> list[tuple[str, bytes]]:
        """The pending ``NCMD`` rebirth requests as (topic, payload), cleared on return."""
        requests, self._rebirths = list(self._rebirths.items()), {}
        return requests

    # -- births and deaths -------------------------------------------------------------

    def _node_birth(self, node: NodeKey, message: Message) -> list[RawReading]:
        birth = _decode_birth(NBirth, message.payload)
        _bounded_put(self.node_births, node, birth)
        bdseq = next((m.value for m in birth.metrics if m.name == "bdSeq"), None)
        if isinstance(bdseq, int) and not isinstance(bdseq, bool):
            _bounded_put(self.node_bdseq, node, bdseq)
        else:
            self.node_bdseq.pop(node, None)
        for key in [key for key in self.device_births if key[:2] == node]:
            del self.device_births[key]
        return _readings("/".join(node), birth.timestamp, birth.metrics)

    def _device_birth(self, device: DeviceKey, message: Message) -> list[RawReading]:
        birth = _decode_birth(DBirth, message.payload)
        _bounded_put(self.device_births, device, birth)
        return _readings("/".join(device), birth.timestamp, birth.metrics)

    def _node_death(self, node: NodeKey, payload: bytes) -> None:
        try:
            bdseq = NDeath.decode(payload).bd_seq_metric.value
        except _DECODE_ERRORS:
            bdseq = None  # a death without a readable bdSeq still ends the node's session
        known = self.node_bdseq.get(node)
        if isinstance(bdseq, int) and known is not None and bdseq != known:
            return  # a late death of an earlier session: the current birth stands
        self.node_births.pop(node, None)
        self.node_bdseq.pop(node, None)
        for key in [key for key in self.device_births if key[:2] == node]:
            del self.device_births[key]

    # -- data ----------------------------------------------------------------------------

    def _data(
        self, node: NodeKey, device: str | None, birth: NBirth | DBirth | None, message: Message
    ) -> list[RawReading]:
        what = "/".join((*node, device)) if device else "/".join(node)
        if birth is None:
            self._request_rebirth(node, message.received_ns)
            raise PayloadError(Reason.SPARKPLUG_NO_BIRTH, f"DATA from {what} before its BIRTH")
        payload_type = DData if device else NData
        try:
            data = payload_type.decode(message.payload, birth=birth)
        except KeyError as exc:
            self._request_rebirth(node, message.received_ns)
            raise PayloadError(
                Reason.SPARKPLUG_NO_BIRTH, f"{what}: metric {exc} was not announced in the BIRTH"
            ) from None
        except _DECODE_ERRORS as exc:
            raise PayloadError(Reason.SCHEMA, f"not a Sparkplug B payload: {exc}"[:300]) from None
        return _readings(what, data.timestamp, data.metrics)

    def _request_rebirth(self, node: NodeKey, received_ns: int) -> None:
        topic = f"{NAMESPACE}/{node[0]}/NCMD/{node[1]}"
        if topic in self._rebirths or len(self._rebirths) >= MAX_REBIRTH_REQUESTS:
            return
        rebirth = Metric(
            timestamp=received_ns // MS, name="Node Control/Rebirth", datatype=DataType.BOOLEAN, value=True
        )
        self._rebirths[topic] = NCmd(timestamp=received_ns // MS, metrics=(rebirth,)).encode(
            include_dtypes=True
        )


def _decode_birth(payload_type: type[_Birth], payload: bytes) -> _Birth:
    try:
        return payload_type.decode(payload)
    except KeyError as exc:
        raise PayloadError(Reason.SCHEMA, f"not a Sparkplug B birth: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise PayloadError(Reason.SCHEMA, f"not a Sparkplug B birth: {exc}"[:300]) from None


def _readings(device_key: str, timestamp_ms: int, metrics: Iterable[Metric]) -> list[RawReading]:
    """Numeric metrics grouped by their time; control metrics, nulls, texts and booleans left out."""
    by_time: dict[int, dict[str, tuple[float, str | None]]] = {}
    for metric in metrics:
        value = metric.value
        name = metric.name
        if name is None or name.startswith(_CONTROL_PREFIXES) or metric.is_null:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        as_float = float(value)
        if not math.isfinite(as_float):
            continue  # NaN marks "no value" for Sparkplug floats
        ts_ms = metric.timestamp if metric.timestamp is not None else timestamp_ms
        _, sep, suffix = name.rpartition("_")
        by_time.setdefault(ts_ms, {})[name] = (as_float, _UNITS.get(suffix) if sep else None)
    return [RawReading(device_key, ts_ms * MS, values) for ts_ms, values in by_time.items()]


def _bounded_put(store: dict[_K, _V], key: _K, value: _V) -> None:
    """Insert, evicting the oldest entry when the store is full."""
    store.pop(key, None)
    if len(store) >= MAX_BIRTHS:
        del store[next(iter(store))]
    store[key] = value
