"""Building InfluxQL from validated parts only (SPEC §7: no way to inject InfluxQL).

Nothing a caller typed is pasted into a query as text. Identifiers (measurements, fields,
tag keys) come from fixed allow-lists; tag values (owner, site, device, network ids) are
looked up in the registry first, whose ids match ``[A-Za-z0-9][A-Za-z0-9_.:-]*``, and are
still escaped as string literals; times are integers (ns); ``every`` is parsed by a strict
grammar and re-rendered from the parsed number and unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from api.errors import bad_request

TZ = "Europe/Stockholm"  # day/week/month buckets are local days for Swedish users

_EVERY = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d|w)$")
EVERY_PATTERN = _EVERY.pattern
_UNIT_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}
MAX_BUCKETS = 20_000
AGGREGATES = frozenset({"mean", "min", "max", "sum", "first", "last", "median", "count", "spread"})
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Every:
    """A ``GROUP BY time()`` interval such as ``15m``; only digits and one unit letter."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Every:
        match = _EVERY.fullmatch(text)  # not .match: its $ would accept a trailing newline
        if not match:
            raise bad_request("bad_every", f"every must look like 30s, 15m, 1h, 1d or 1w, not {text[:40]!r}")
        return cls(int(match.group(1)), match.group(2))

    @property
    def ns(self) -> int:
        return self.count * _UNIT_NS[self.unit]

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def ident(name: str) -> str:
    """A double-quoted identifier; only for names from our own allow-lists."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not an allow-listed identifier: {name!r}")
    return f'"{name}"'


def literal(value: str) -> str:
    """A single-quoted string literal. Values are registry ids already; escaping is the second fence."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def select_fields(fields: tuple[str, ...], aggregate: str | None = None) -> str:
    """The select list of a series query: each field, or ``aggregate(field)``, named after its field.

    Fields are allow-listed identifiers (``ident`` refuses anything else); ``aggregate`` must be
    one of ``AGGREGATES``. Several fields in one query share one scan and line up on the same
    times, which separate queries could not promise for raw points.
    """
    if not fields:
        raise ValueError("a series query selects at least one field")
    if aggregate is None:
        return ", ".join(ident(f) for f in fields)
    if aggregate not in AGGREGATES:
        raise ValueError(f"not an allow-listed aggregate: {aggregate!r}")
    return ", ".join(f"{aggregate}({ident(f)}) AS {ident(f)}" for f in fields)


def tag_equals(tag: str, value: str) -> str:
    return f"{ident(tag)} = {literal(value)}"


def time_range(start_ns: int, end_ns: int) -> str:
    return f"time >= {int(start_ns)} AND time < {int(end_ns)}"


def where(*conditions: str) -> str:
    parts = [c for c in conditions if c]
    return " WHERE " + " AND ".join(parts) if parts else ""


def check_buckets(start_ns: int, end_ns: int, every: Every) -> None:
    """Refuse a query that would produce more buckets than a client can sensibly use."""
    buckets = (end_ns - start_ns) // every.ns
    if buckets > MAX_BUCKETS:
        raise bad_request(
            "too_many_buckets",
            f"{buckets} buckets of {every} in this range; at most {MAX_BUCKETS}: use a larger every",
        )


def series_rows(results: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, str], list[dict[str, Any]]]]:
    """Each series of a query answer as (measurement, tags, rows as column→value dicts)."""
    for result in results:
        for series in result.get("series", []):
            columns = series["columns"]
            rows = [dict(zip(columns, values, strict=True)) for values in series["values"]]
            yield series["name"], series.get("tags", {}), rows
