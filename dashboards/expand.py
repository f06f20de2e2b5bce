"""Grafana's template expansion for InfluxQL, the part these dashboards use, for offline checks.

Grafana is not installable here (SPEC §2), so the tests expand each panel's query the way
Grafana's InfluxDB datasource does and run it against real InfluxDB:

- ``$timeFilter`` → ``time >= <from>ms and time <= <to>ms``;
- ``${__from}`` / ``${__to}`` → the range's start / end in epoch milliseconds;
- ``$__interval`` → the range divided by the panel's data points, rounded to a "nice" step
  (Grafana's ``rangeutil.roundInterval`` table), never below the datasource's minimum;
- ``$name`` / ``${name}`` → a variable's value, regex-escaped as Grafana does inside ``/…/``;
  several values become ``(a|b)``, "All" becomes the variable's ``allValue``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALL = "$__all"

# (upper bound of the raw interval in ms, the rounded interval) — from Grafana's roundInterval.
_ROUNDING: tuple[tuple[int, str], ...] = (
    (15, "10ms"),
    (35, "20ms"),
    (75, "50ms"),
    (150, "100ms"),
    (350, "200ms"),
    (750, "500ms"),
    (1_500, "1s"),
    (3_500, "2s"),
    (7_500, "5s"),
    (12_500, "10s"),
    (17_500, "15s"),
    (25_000, "20s"),
    (45_000, "30s"),
    (90_000, "1m"),
    (210_000, "2m"),
    (450_000, "5m"),
    (750_000, "10m"),
    (1_050_000, "15m"),
    (1_500_000, "20m"),
    (2_700_000, "30m"),
    (5_400_000, "1h"),
    (9_000_000, "2h"),
    (16_200_000, "3h"),
    (24_300_000, "6h"),
    (32_400_000, "8h"),
    (86_400_000, "12h"),
    (604_800_000, "24h"),
    (1_814_400_000, "1w"),
)
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_REGEX_SPECIALS = re.compile(r"([\\/^$.|?*+()\[\]{}])")


def duration_ms(text: str) -> int:
    """``"30s"`` → 30000."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a Grafana duration: {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def interval_for(start_ms: int, end_ms: int, max_data_points: int = 1000, min_interval: str = "10s") -> str:
    """The ``$__interval`` Grafana would pick for this range (datasource minimum applied)."""
    raw = max((end_ms - start_ms) // max(max_data_points, 1), duration_ms(min_interval))
    for bound, rounded in _ROUNDING:
        if raw < bound:
            return rounded
    return "30d"


def regex_value(values: Sequence[str], all_value: str | None) -> str:
    """A variable's value as Grafana writes it into an InfluxQL regex."""
    if list(values) == [ALL]:
        if all_value is None:
            raise ValueError("'All' needs an allValue for InfluxQL regexes in these dashboards")
        return all_value
    escaped = [_REGEX_SPECIALS.sub(r"\\\1", value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range in epoch milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def filter(self) -> str:
        return f"time >= {self.start_ms}ms and time <= {self.end_ms}ms"


def expand(
    query: str,
    time_range: TimeRange,
    variables: Mapping[str, str],
    *,
    interval: str | None = None,
) -> str:
    """Expand ``query`` as Grafana would; ``variables`` maps names to already-formatted values.

    Raises KeyError for a ``$name`` that is neither a Grafana built-in nor a given variable, so
    a typo in a dashboard fails the check instead of reaching InfluxDB verbatim.
    """
    step = interval or interval_for(time_range.start_ms, time_range.end_ms)
    builtins = {
        "timeFilter": time_range.filter,
        "__timeFilter": time_range.filter,
        "__interval": step,
        "__interval_ms": str(duration_ms(step)),
        "__from": str(time_range.start_ms),
        "__to": str(time_range.end_ms),
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        if name in variables:
            return variables[name]
        # `$` anchors inside regexes (`/^$site$/`) are followed by `/`, never by a word.
        raise KeyError(f"unknown template variable ${name} in {query!r}")

    return _VARIABLE.sub(substitute, query)
