"""Persisting the register histories of :class:`EnergyState` in SQLite, so they survive a restart.

Written incrementally at batch commit time (one row per new reading, one delete per trimmed
one), after the batch's points are durable and before its messages are acknowledged. Order of
events and why it is safe:

- crash after the points are written but before the history is: the unacked messages are
  redelivered and recompute the same points (InfluxDB writes are idempotent);
- the history may also hold readings of the *next* batch (the hot path keeps running while a
  commit awaits); if the process dies before that batch is written, its messages are
  redelivered, hit the history as duplicates, and duplicates re-emit their points.
"""

from __future__ import annotations

import sqlite3

from energy_core.store import SqliteStore
from ingest.derive.energy import Changes, EnergyState


class EnergyStore(SqliteStore):
    schema = """
    CREATE TABLE IF NOT EXISTS registers (
        series TEXT NOT NULL,
        ts_ns INTEGER NOT NULL,
        kwh REAL NOT NULL,
        PRIMARY KEY (series, ts_ns)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS floors (
        series TEXT PRIMARY KEY,
        ts_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
    """

    def restore(self, state: EnergyState) -> int:
        """Load every stored series into ``state``; returns the number of readings loaded."""

        def read(db: sqlite3.Connection) -> tuple[list[tuple[str, int, float]], dict[str, int]]:
            rows = db.execute("SELECT series, ts_ns, kwh FROM registers ORDER BY series, ts_ns").fetchall()
            floors = dict(db.execute("SELECT series, ts_ns FROM floors").fetchall())
            return rows, floors

        rows, floors = self.run_sync(read)
        current: str | None = None
        readings: list[tuple[int, float]] = []
        for series, ts_ns, kwh in rows:
            if series != current:
                if current is not None:
                    state.load(current, readings, floors.get(current))
                current, readings = series, []
            readings.append((ts_ns, kwh))
        if current is not None:
            state.load(current, readings, floors.get(current))
        return len(rows)

    @staticmethod
    def _apply(db: sqlite3.Connection, changes: Changes) -> None:
        with db:  # one transaction: the history on disk is always a consistent snapshot
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO registers (series, ts_ns, kwh) VALUES (?, ?, ?)", changes.upserts
            )
            db.executemany("DELETE FROM registers WHERE series = ? AND ts_ns = ?", changes.trimmed)
            db.executemany(
                "INSERT OR REPLACE INTO floors (series, ts_ns) VALUES (?, ?)", list(changes.floors.items())
            )

    async def save(self, changes: Changes) -> None:
        """Persist the changes durably (synchronous=FULL) off the event loop."""
        if changes:
            await self.run(lambda db: self._apply(db, changes))
