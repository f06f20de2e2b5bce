"""Which data a range-dependent panel reads: raw points for short ranges, the roll-ups for long ones.

Grafana's InfluxQL datasource cannot pick a retention policy by itself, so a panel whose cost
grows with its range carries one target per source, each gated by the length of the selected
range (``${__to} - ${__from}``, in ms; a constant condition that InfluxDB folds before reading
anything, so the targets that do not apply scan nothing and return nothing):

- ``raw`` (the database's default retention policy) for ranges up to :data:`RAW_MAX_MS` (2 days);
- ``rollup_1h`` (UTC hours) up to :data:`HOURLY_MAX_MS` (60 days);
- ``rollup_1d`` (Europe/Stockholm days) beyond.

The roll-up layout (retention policies, ``{f}_sum``/``{f}_count``, ``energy_total``/
``emissions_total``) is energy_core.rollups's; a mean over roll-ups is
sum(``{f}_sum``) / sum(``{f}_count``), exact, never a mean of bucket means. Every GROUP BY time()
of a switching panel is in local time (``tz('Europe/Stockholm')``), so daily buckets are the
API's local days whichever source answers.

A roll-up target reads the buckets that *start* inside the range: over a range aligned to its
buckets (whole hours, local days) it equals the raw answer; otherwise it leaves out the partial
first bucket (at most an hour, or a day beyond 60 days).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from energy_core import rollups

DAY_MS = 86_400_000
RAW_MAX_MS = 2 * DAY_MS
HOURLY_MAX_MS = 60 * DAY_MS

LOCAL_TIME = " tz('Europe/Stockholm')"
RANGE_MS = "${__to} - ${__from}"

# Measurements summed across sites in the roll-ups (tags owner, network, carrier[, method]).
ACROSS_SITES = {raw: total for total, raw in rollups.TOTAL_OF.items()}


@dataclass(frozen=True)
class Source:
    """Where a target reads from and the lengths of range it answers for: (``above_ms``, ``up_to_ms``]."""

    name: str
    retention_policy: str | None  # None: the database's default (raw)
    above_ms: int | None
    up_to_ms: int | None

    @property
    def raw(self) -> bool:
        return self.retention_policy is None

    @property
    def gate(self) -> str:
        """The InfluxQL condition that is true only for ranges this source answers for."""
        bounds = []
        if self.above_ms is not None:
            bounds.append(f"{RANGE_MS} > {self.above_ms}")
        if self.up_to_ms is not None:
            bounds.append(f"{RANGE_MS} <= {self.up_to_ms}")
        return "(" + " AND ".join(bounds) + ")"

    def where(self, *conditions: str, time: str = "$timeFilter") -> str:
        """``WHERE <time> AND <gate> AND …``."""
        return "WHERE " + " AND ".join((time, self.gate, *conditions))

    def of(self, measurement: str, *, across_sites: bool = False) -> str:
        """The measurement to read; ``across_sites`` reads the roll-ups summed over all sites."""
        if self.retention_policy is None:
            return f'"{measurement}"'
        name = ACROSS_SITES[measurement] if across_sites else measurement
        return f'"{self.retention_policy}"."{name}"'

    def mean(self, measurement: str, field: str) -> str:
        """The exact mean of a gauge over the points (raw) or buckets (roll-ups) selected."""
        if self.raw:
            return rollups.raw_expression(field, "mean")
        expression = rollups.rollup_expression(measurement, field, "mean")
        if expression is None:
            raise ValueError(f"{measurement}.{field} has no exact mean in the roll-ups")
        return expression


RAW = Source("raw", None, None, RAW_MAX_MS)
HOURLY = Source("rollup_1h", rollups.RP_1H, RAW_MAX_MS, HOURLY_MAX_MS)
DAILY = Source("rollup_1d", rollups.RP_1D, HOURLY_MAX_MS, None)
# Raw beyond RAW_MAX_MS: only for fixed-length windows (the latest reading), never the range.
RAW_LONG = Source("raw", None, RAW_MAX_MS, None)

BY_RANGE = (RAW, HOURLY, DAILY)

Query = Callable[[Source], str]


def per_source(query: Query, sources: tuple[Source, ...] = BY_RANGE) -> list[str]:
    """The query written for each source, in target order (A: raw, B: hourly, C: daily)."""
    return [query(source) for source in sources]


def trailing(window: str) -> str:
    """InfluxQL time condition: the ``window`` (an InfluxQL duration) up to the range's end."""
    return f"time > ${{__to}}ms - {window} AND time <= ${{__to}}ms"


def means_per_interval(
    src: Source, measurement: str, condition: str, columns: dict[str, str], *, by: str = ""
) -> str:
    """``SELECT <mean of field> AS "<alias>", … GROUP BY time($__interval)[, by]`` for ``src``;
    ``columns`` maps each alias to its field."""
    selected = ", ".join(f'{src.mean(measurement, field)} AS "{alias}"' for alias, field in columns.items())
    group = f"time($__interval), {by}" if by else "time($__interval)"
    return (
        f"SELECT {selected} FROM {src.of(measurement)} {src.where(condition)} "
        f"GROUP BY {group} fill(none){LOCAL_TIME}"
    )
