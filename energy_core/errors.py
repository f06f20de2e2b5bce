"""Exceptions and dead-letter reason codes of the ingest package."""

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


class ConfigError(Exception):
    """Raised when configuration is missing or malformed; ``str()`` is one line naming the key."""


class PayloadError(Exception):
    """Raised when a payload cannot be turned into readings; carries the dead-letter reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InfluxError(Exception):
    """Raised when InfluxDB answers with an error that retrying will not fix."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"InfluxDB answered {status}: {body[:300]}")
        self.status = status
        self.body = body


class InfluxUnavailable(Exception):
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


class StoreError(Exception):
    """Raised when a durable SQLite store (spool, dead letters, energy history) cannot be opened
    or written: disk full, I/O error, an unwritable ``INGEST_DATA_DIR``. Carries the file's path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
