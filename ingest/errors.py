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
