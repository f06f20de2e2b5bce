"""Creating the roll-up retention policies and setting the raw one's duration (InfluxDB 1.x).

Needs admin rights on 1.x; 2.x and 3.x have no retention policies on their v1 API (buckets with a
retention period, mapped by DBRP: docs/rollups.md). A refusal is logged once and is not fatal:
the operator creates them (the log line says how), and writes into a missing policy keep their
buckets dirty until it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from energy_core import rollups
from energy_core.errors import InfluxError, InfluxUnavailable
from energy_core.influx import InfluxClient

log = structlog.get_logger("ingest.rollup")


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    duration: str  # as SHOW RETENTION POLICIES answers it: "10320h0m0s", "0s" = infinite
    default: bool


def parse_policies(results: list[dict[str, Any]]) -> list[Policy]:
    """The rows of ``SHOW RETENTION POLICIES``."""
    out: list[Policy] = []
    for result in results:
        for series in result.get("series") or ():
            columns = series["columns"]
            for row in series["values"]:
                values = dict(zip(columns, row, strict=False))
                out.append(Policy(str(values["name"]), str(values["duration"]), bool(values.get("default"))))
    return out


def _hours(duration: str) -> int:
    """Whole hours of an InfluxDB duration string such as ``10320h0m0s``; 0 is infinite."""
    hours, _, _ = duration.partition("h")
    return int(hours) if hours.isdigit() else 0


def _wanted_hours(days: float) -> int:
    text = rollups.duration(days)
    return 0 if text == "INF" else int(text.removesuffix("h"))


async def ensure_policies(influx: InfluxClient, *, rollup_days: float, raw_days: float | None) -> bool:
    """Create ``rollup_1h``/``rollup_1d`` (or alter their duration to ``rollup_days``) and, unless
    ``raw_days`` is None, set the default policy's duration to ``raw_days``.

    Returns True when done (or refused: logged once, not retried), False when InfluxDB is down or
    the database does not exist yet (the caller tries again later). Raises nothing.
    """
    db = influx.db
    try:
        existing = {
            p.name: p
            for p in parse_policies(await influx.query(f"SHOW RETENTION POLICIES ON {rollups.q(db)}"))
        }
        statements: list[tuple[str, str, str, str]] = []  # (statement, rp, from, to)
        for rp in rollups.ROLLUP_RPS:
            policy = existing.get(rp)
            if policy is None:
                statements.append(
                    (rollups.create_rollup_policy(db, rp, rollup_days), rp, "", rollups.duration(rollup_days))
                )
            elif _hours(policy.duration) != _wanted_hours(rollup_days):
                statements.append(
                    (
                        rollups.alter_rollup_policy(db, rp, rollup_days),
                        rp,
                        policy.duration,
                        rollups.duration(rollup_days),
                    )
                )
        default = next((p for p in existing.values() if p.default), None)
        if (
            raw_days is not None
            and default is not None
            and default.name not in rollups.ROLLUP_RPS
            and _hours(default.duration) != _wanted_hours(raw_days)
        ):
            statements.append(
                (
                    rollups.alter_raw_policy(db, default.name, raw_days),
                    default.name,
                    default.duration,
                    rollups.duration(raw_days),
                )
            )
        for statement, rp, before, after in statements:
            await influx.query(statement, method="POST")
            log.info("retention_policy_set", db=db, rp=rp, duration_before=before or None, duration=after)
    except InfluxUnavailable as exc:
        log.warning("retention_policies_deferred", db=db, error=str(exc)[:200])
        return False
    except InfluxError as exc:
        if "database not found" in exc.body:
            log.warning("retention_policies_deferred", db=db, error=exc.body[:200])
            return False
        log.error(
            "retention_policies_refused",
            db=db,
            status=exc.status,
            error=exc.body[:300],
            consequence="roll-ups wait until rollup_1h and rollup_1d exist (docs/rollups.md)",
        )
        return True
    return True
