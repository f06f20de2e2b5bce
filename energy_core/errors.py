"""The project's one error root, its subtrees, and the dead-letter reason codes.

Every exception the project raises on purpose descends from :class:`EnergyError`, so a loop
boundary or a command line can say "ours" in one ``except``; the subtrees say what failed::

    EnergyError
    ├── ConfigError              configuration missing or malformed (one line naming the key)
    ├── PayloadError             a payload that cannot become readings (carries its Reason)
    ├── ProtocolError            a peer broke its wire protocol (ingest.mqtt_codec: MalformedPacket,
    │                            PacketTooLarge; those are ValueError too)
    ├── InfluxFailure            InfluxDB did not do what was asked
    │   ├── InfluxError              it answered with an error retrying will not fix
    │   └── InfluxUnavailable        it could not be reached (5xx, timeouts) after the retries
    │       └── InfluxRefused            it refused a write for a reason not about its points
    ├── StorageError             a durable local SQLite store failed or is full
    │   ├── StoreError               it cannot be opened or written (disk full, I/O error)
    │   └── SpoolFull                (ingest.spool) a batch would exceed the spool's byte bound
    ├── ApiError                 (api.errors) a request the API answers with a 4xx JSON body
    └── NotInstalled             (energy_testing.errors) a service binary is missing; RuntimeError too

The leaves of other packages live in those packages (each has its ``errors.py`` or keeps its
codec's errors beside the codec); this module imports nothing but the standard library, so the
stdlib-only test harness can build on it.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message (or one reading of it) could not be stored. Stable: metrics and the API use them."""

    INVALID_JSON = "invalid_json"
    SCHEMA = "schema"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_QUANTITY = "unknown_quantity"
    UNKNOWN_DEVICE = "unknown_device"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    IMPLAUSIBLE_VALUE = "implausible_value"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    REJECTED_BY_DB = "rejected_by_db"
    NO_ADAPTER = "no_adapter"
    SPARKPLUG_NO_BIRTH = "sparkplug_no_birth"
    DEVICE_NOT_ALLOWED = "device_not_allowed"
    IMPLAUSIBLE_ENERGY = "implausible_energy"


class EnergyError(Exception):
    """The root: raised (through a subclass) for every failure the project reports on purpose."""


class ConfigError(EnergyError):
    """Raised when configuration is missing or malformed; ``str()`` is one line naming the key."""


class PayloadError(EnergyError):
    """Raised when a payload cannot be turned into readings; carries the dead-letter reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ProtocolError(EnergyError):
    """Raised when a peer (the MQTT broker) sends bytes its wire protocol does not allow."""


class InfluxFailure(EnergyError):
    """Raised when InfluxDB does not do what was asked: it said no (:class:`InfluxError`) or could
    not be reached or would not take the write (:class:`InfluxUnavailable`)."""


class InfluxError(InfluxFailure):
    """Raised when InfluxDB answers with an error that retrying will not fix."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"InfluxDB answered {status}: {body[:300]}")
        self.status = status
        self.body = body


class InfluxUnavailable(InfluxFailure):
    """Raised when InfluxDB cannot be reached or answers 5xx/timeouts after the retries."""


class InfluxRefused(InfluxUnavailable):
    """Raised when InfluxDB refuses a write for a reason that is not about its points (401, 403, a
    404 other than a missing database, …): revoked credentials, missing grants, a wrong URL.

    Handled like an outage (spool, do not ack, not ready): the points are fine and will be written
    once an operator fixes the cause, so bisecting and dead-lettering them would lose them.
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"InfluxDB refused the write with {status}: {body[:300]}")
        self.status = status
        self.body = body


class StorageError(EnergyError):
    """Raised when a durable local store (the data directory's SQLite files) fails or is full."""


class StoreError(StorageError):
    """Raised when a durable SQLite store (spool, dead letters, energy history) cannot be opened
    or written: disk full, I/O error, an unwritable ``INGEST_DATA_DIR``. Carries the file's path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
